"""Runs the console: `feedloop-console` or `python -m feedloop.console`."""

import uvicorn
from feedloop.common.serving import metrics_address, serve
from feedloop.console.app import create_app
from feedloop.console.settings import ConsoleSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = ConsoleSettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
        # The peer address must stay the real one: identity headers are believed only from
        # the configured proxies (FEEDLOOP_CONSOLE_TRUSTED_PROXIES).
        proxy_headers=False,
    )
    return serve(uvicorn.Server(config), metrics_at=metrics_address(settings))


if __name__ == "__main__":
    raise SystemExit(main())
