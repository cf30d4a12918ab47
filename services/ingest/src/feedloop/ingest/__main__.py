"""Runs the ingest service: `feedloop-ingest` or `python -m feedloop.ingest`."""

from typing import Any

import uvicorn
from feedloop.common.serving import metrics_address, serve
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = IngestSettings()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_graceful_shutdown": 20,
        "proxy_headers": True,
    }
    if settings.workers > 1:
        # Several workers need an import string: each process builds its app from the
        # environment. uvicorn's supervisor exits 0 by itself after SIGTERM.
        uvicorn.run(
            "feedloop.ingest.app:create_app", factory=True, workers=settings.workers, **options
        )
        return 0
    return serve(
        uvicorn.Server(uvicorn.Config(create_app(settings), **options)),
        metrics_at=metrics_address(settings),
    )


if __name__ == "__main__":
    raise SystemExit(main())
