"""Liveness and readiness endpoints; readiness runs the checks a service registers.

Liveness covers the process's background loops too: a consumer whose task died leaves an HTTP
server that answers while nothing is consumed, so its death must fail /healthz and get the
process restarted. Loops register themselves (watch) while they run; the registry is per
process, as liveness is.
"""

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, Response
from feedloop.common.responses import FastJSONResponse

ReadinessCheck = Callable[[], Awaitable[bool]]


class Vital(Protocol):
    """A background loop whose death means the process must restart."""

    @property
    def name(self) -> str:
        """What /healthz names when it died."""

    @property
    def alive(self) -> bool:
        """False once it died by itself."""


_WATCHED: "weakref.WeakSet[Vital]" = weakref.WeakSet()


def watch(vital: Vital) -> None:
    """Makes /healthz fail once `vital` dies (until unwatch)."""
    _WATCHED.add(vital)


def unwatch(vital: Vital) -> None:
    """Stops watching a loop that was stopped on purpose."""
    _WATCHED.discard(vital)


def dead() -> list[str]:
    """Names of the watched loops that died."""
    return sorted(v.name for v in list(_WATCHED) if not v.alive)


def health_router(checks: dict[str, ReadinessCheck], *, timeout_s: float = 2.0) -> APIRouter:
    """Returns /healthz (process alive) and /readyz (every dependency reachable)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz(response: Response) -> dict[str, str]:
        died = dead()
        if died:
            response.status_code = 503
            return {"status": "dead", "dead": ", ".join(died)}
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: Kafka (and the database) are reachable")
    async def readyz() -> FastJSONResponse:
        async def run(check: ReadinessCheck) -> bool:
            try:
                return await asyncio.wait_for(check(), timeout_s)
            except Exception:
                return False

        names = list(checks)
        results = await asyncio.gather(*(run(checks[name]) for name in names))
        status = dict(zip(names, results, strict=True))
        ready = all(results)
        return FastJSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": status},
            status_code=200 if ready else 503,
        )

    return router
