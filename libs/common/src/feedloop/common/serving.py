"""Runs a service's uvicorn server so that a graceful shutdown on SIGTERM exits 0."""

import signal
from types import FrameType
from typing import Any, Protocol

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


def run_service(app: object, settings: ServiceSettings, **options: Any) -> int:
    """The body of every service's `__main__.main`: serves `app` with uvicorn until SIGTERM.

    Listens on the settings' host and port, with proxy headers, a 20 s graceful shutdown and
    /metrics on its own port (metrics_address); `options` add or override uvicorn.Config
    arguments. Returns the exit status (see serve).
    """
    import uvicorn  # every service installs it; libs/common itself does not depend on it

    config = uvicorn.Config(app, **(server_options(settings) | options))  # type: ignore[arg-type]
    return serve(uvicorn.Server(config), metrics_at=metrics_address(settings))


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """uvicorn options of every service: address, no log config of its own, graceful stop."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_graceful_shutdown": 20,
        "proxy_headers": True,
    }
