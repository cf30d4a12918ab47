"""The parts every service's FastAPI app shares: errors, metrics, correlation ids, health."""

import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from feedloop.common.health import ReadinessCheck, health_router
from feedloop.common.logs import correlation_id_var
from feedloop.common.metrics import instrument, metrics_router
from feedloop.common.problems import install_problem_handlers

CORRELATION_HEADER = "X-Correlation-Id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


def install_common(app: FastAPI, *, service: str, checks: dict[str, ReadinessCheck]) -> None:
    """Adds problem+json errors, metrics, correlation ids, /healthz, /readyz and /metrics."""
    install_problem_handlers(app)
    instrument(app, service=service)

    @app.middleware("http")
    async def _correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = given if _SAFE_ID.match(given) else str(uuid.uuid4())
        token = correlation_id_var.set(correlation_id)
        try:
            response = await call_next(request)
        finally:
            correlation_id_var.reset(token)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    app.include_router(health_router(checks))
    app.include_router(metrics_router())
