"""Runs the notify service: `feedloop-notify` or `python -m feedloop.notify`."""

import uvicorn
from feedloop.notify.app import create_app
from feedloop.notify.settings import NotifySettings


def main() -> None:
    """Starts uvicorn with the settings from the environment."""
    settings = NotifySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
