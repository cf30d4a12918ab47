"""Runs the ingest service: `feedloop-ingest` or `python -m feedloop.ingest`."""

import uvicorn
from feedloop.common.serving import run_service, server_options
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = IngestSettings()
    if settings.workers > 1:
        # Several workers need an import string: each process builds its app from the
        # environment. uvicorn's supervisor exits 0 by itself after SIGTERM.
        uvicorn.run(
            "feedloop.ingest.app:create_app",
            factory=True,
            workers=settings.workers,
            **server_options(settings),
        )
        return 0
    return run_service(create_app(settings), settings)


if __name__ == "__main__":
    raise SystemExit(main())
