"""Liveness and readiness endpoints; readiness runs the checks a service registers."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from feedloop.common.responses import FastJSONResponse

ReadinessCheck = Callable[[], Awaitable[bool]]


def health_router(checks: dict[str, ReadinessCheck], *, timeout_s: float = 2.0) -> APIRouter:
    """Returns /healthz (process alive) and /readyz (every dependency reachable)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
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
