"""Runs the prioritize service: `feedloop-prioritize` or `python -m feedloop.prioritize`."""

import uvicorn
from feedloop.common.serving import metrics_address, serve
from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = PrioritizeSettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )
    return serve(uvicorn.Server(config), metrics_at=metrics_address(settings))


if __name__ == "__main__":
    raise SystemExit(main())
