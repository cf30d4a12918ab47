"""Runs the prioritize service: `feedloop-prioritize` or `python -m feedloop.prioritize`."""

import uvicorn
from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings


def main() -> None:
    """Starts uvicorn with the settings from the environment."""
    settings = PrioritizeSettings()
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
