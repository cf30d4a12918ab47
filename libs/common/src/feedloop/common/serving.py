"""Runs a service's uvicorn server so that a graceful shutdown on SIGTERM exits 0."""

import signal
from types import FrameType
from typing import Protocol

from feedloop.common.metrics import serve_metrics
from feedloop.common.settings import ServiceSettings

STARTUP_FAILURE = 3
"""uvicorn's own exit code when the app never started (lifespan startup failed, port taken)."""


class Server(Protocol):
    """What serve needs of a uvicorn.Server (libs/common does not depend on uvicorn)."""

    should_exit: bool
    started: bool

    def run(self) -> None:
        """Serves until told to exit, then shuts down."""


def metrics_address(settings: ServiceSettings) -> tuple[str, int] | None:
    """(host, port) of the separate /metrics listener, or None when /metrics is on the API."""
    port = settings.metrics_listen_port
    return None if port is None else (settings.host, port)


def serve(server: Server, *, metrics_at: tuple[str, int] | None = None) -> int:
    """Runs the server until SIGTERM or SIGINT; returns 0 after a clean shutdown, else non-zero.

    uvicorn re-raises the signal it caught once shutdown is complete, which makes a clean
    stop read as killed (143). The handlers set here receive that re-raise instead, so the
    exit status tells a clean shutdown (0) from a failed startup (3) or shutdown (1).
    With `metrics_at` (host, port), /metrics is served there while the server runs.
    """
    stop_metrics = serve_metrics(*metrics_at) if metrics_at else None

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        server.should_exit = True  # a signal before uvicorn listens still stops it cleanly

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stop_metrics is not None:
            stop_metrics()
    if not server.started:
        return STARTUP_FAILURE
    lifespan = getattr(server, "lifespan", None)
    if getattr(lifespan, "shutdown_failed", False) or getattr(lifespan, "error_occured", False):
        return 1
    return 0
