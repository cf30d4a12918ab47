"""Runs a service's uvicorn server so that a graceful shutdown on SIGTERM exits 0."""

import signal
from types import FrameType
from typing import Protocol

STARTUP_FAILURE = 3
"""uvicorn's own exit code when the app never started (lifespan startup failed, port taken)."""


class Server(Protocol):
    """What serve needs of a uvicorn.Server (libs/common does not depend on uvicorn)."""

    should_exit: bool
    started: bool

    def run(self) -> None:
        """Serves until told to exit, then shuts down."""


def serve(server: Server) -> int:
    """Runs the server until SIGTERM or SIGINT; returns 0 after a clean shutdown, else non-zero.

    uvicorn re-raises the signal it caught once shutdown is complete, which makes a clean
    stop read as killed (143). The handlers set here receive that re-raise instead, so the
    exit status tells a clean shutdown (0) from a failed startup (3) or shutdown (1).
    """

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
    if not server.started:
        return STARTUP_FAILURE
    lifespan = getattr(server, "lifespan", None)
    if getattr(lifespan, "shutdown_failed", False) or getattr(lifespan, "error_occured", False):
        return 1
    return 0
