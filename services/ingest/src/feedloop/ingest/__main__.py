"""Runs the ingest service: `feedloop-ingest` or `python -m feedloop.ingest`."""

import uvicorn
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings


def main() -> None:
    """Starts uvicorn with the settings from the environment."""
    settings = IngestSettings()
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
