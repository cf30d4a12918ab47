"""Runs the ingest service: `feedloop-ingest` or `python -m feedloop.ingest`."""

import uvicorn
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings


def main() -> None:
    """Starts uvicorn with the settings from the environment."""
    settings = IngestSettings()
    # Several workers need an import string: each process builds its app from the environment.
    app: object = "feedloop.ingest.app:create_app" if settings.workers > 1 else create_app(settings)
    uvicorn.run(
        app,  # type: ignore[arg-type]
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
