"""The parts every service's FastAPI app shares: errors, metrics, correlation ids, health."""

import re
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from feedloop.common.errors import install_error_handlers
from feedloop.common.health import ReadinessCheck, health_router
from feedloop.common.limits import BodySizeLimit
from feedloop.common.logs import correlation_id_var
from feedloop.common.metrics import HTTP_LATENCY, HTTP_REQUESTS, metrics_router
from feedloop.common.problems import install_problem_handlers, install_problem_openapi
from feedloop.common.settings import ServiceSettings
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORRELATION_HEADER = "X-Correlation-Id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")

StatusHook = Callable[[str, int], None]

MAX_PAGE = 500
MAX_OFFSET = 1_000_000
# Query parameters of every list route: bounded, so no value can overflow a database integer.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="Items to skip; past a million, filter instead.")
]


def settings_of(request: Request) -> ServiceSettings:
    """Returns the app's settings (`app.state.settings`)."""
    settings: ServiceSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ServiceSettings, Depends(settings_of)]
"""The app's settings; a service narrows the type in its own alias:
`SettingsDep = Annotated[NotifySettings, Depends(settings_of)]`."""


def app_state(name: str) -> Callable[[Request], Any]:
    """A dependency returning `app.state.<name>` (None until the lifespan sets it), e.g.
    `RelayDep = Annotated[OutboxRelay | None, Depends(app_state("relay"))]`."""

    def state_of(request: Request) -> Any:
        return getattr(request.app.state, name, None)

    state_of.__name__ = f"{name}_of"
    return state_of


class ObservedRequests:
    """Pure ASGI middleware: correlation id in and out, request count and latency by route.

    Written against raw ASGI rather than @app.middleware("http"), which costs a task and
    a stream per request: on this path that overhead was most of ingest's CPU per item.
    """

    def __init__(self, app: ASGIApp, *, service: str, on_status: StatusHook | None = None) -> None:
        self.app = app
        self.service = service
        self.on_status = on_status
        self._routes: dict[tuple[str, str], str] = {}

    def _route(self, scope: Scope) -> str:
        key = (scope.get("method", ""), scope.get("path", ""))
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        route_path = "unmatched"
        for route in scope["app"].router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                route_path = str(getattr(route, "path", "unmatched"))
                break
        if len(self._routes) < 10_000 and "{" not in route_path:
            self._routes[key] = route_path
        return route_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = ""
        for name, value in scope.get("headers") or ():
            if name == b"x-correlation-id":
                given = value.decode("latin-1")
                break
        correlation_id = given if _SAFE_ID.match(given) else str(uuid.uuid4())
        token = correlation_id_var.set(correlation_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", correlation_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)
            route = self._route(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
            if self.on_status is not None:
                self.on_status(scope.get("path", ""), status)


def docs_options(settings: ServiceSettings) -> dict[str, Any]:
    """FastAPI() arguments that turn /docs, /redoc and /openapi.json off unless configured on."""
    if settings.serves_docs:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


def install_common(
    app: FastAPI,
    *,
    service: str,
    settings: ServiceSettings,
    checks: dict[str, ReadinessCheck],
    on_status: StatusHook | None = None,
) -> None:
    """Adds problem+json errors, a body limit, metrics, correlation ids, /healthz and /readyz.

    /metrics joins the API routes only when the settings say so (metrics_port 0); otherwise
    the service's runner serves it on its own port.
    """
    install_problem_handlers(app)
    install_error_handlers(app)
    install_problem_openapi(app)
    # Added first, so it runs inside ObservedRequests (413s are counted by route) and
    # outside routing (before authentication and body parsing).
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservedRequests, service=service, on_status=on_status)
    app.include_router(health_router(checks))
    if settings.metrics_listen_port is None:
        app.include_router(metrics_router())
