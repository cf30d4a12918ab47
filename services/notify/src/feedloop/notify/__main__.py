"""Runs the notify service: `feedloop-notify` or `python -m feedloop.notify`."""

import uvicorn
from feedloop.common.serving import metrics_address, serve
from feedloop.notify.app import create_app
from feedloop.notify.settings import NotifySettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = NotifySettings()
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
