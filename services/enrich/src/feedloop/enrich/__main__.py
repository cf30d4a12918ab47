"""Runs the enrich service: `feedloop-enrich` or `python -m feedloop.enrich`."""

import uvicorn
from feedloop.enrich.app import create_app
from feedloop.enrich.settings import EnrichSettings


def main() -> None:
    """Starts uvicorn with the settings from the environment."""
    settings = EnrichSettings()
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
