"""The console app factory: pages, static assets, signed-cookie sessions, security headers."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from feedloop.common.health import ReadinessCheck
from feedloop.common.shell import build_lifespan, service_app, started_step
from feedloop.console.alerts import router as alerts_router
from feedloop.console.backend import Backend, BackendError
from feedloop.console.pages import TEMPLATES, router
from feedloop.console.people import NotSignedIn, csrf_token
from feedloop.console.settings import ConsoleSettings
from feedloop.console.surveys import Solicit
from feedloop.console.surveys import router as surveys_router
from starlette.middleware.sessions import SessionMiddleware

SERVICE = "console"
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Everything the pages use is served by the console itself: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(
    settings: ConsoleSettings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Builds the console; `transport` lets tests route its API calls in-process."""
    settings = settings or ConsoleSettings()
    backend = Backend(settings, transport=transport)
    solicit = Solicit(settings, backend, transport=transport)

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        async def prioritize_ready() -> bool:
            return await backend.reachable(backend.prioritize)

        async def notify_ready() -> bool:
            return await backend.reachable(backend.notify)

        return {"prioritize": prioritize_ready, "notify": notify_ready}

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="The CX team's web UI over the prioritize and notify APIs.",
        lifespan=build_lifespan(
            service=SERVICE,
            settings=settings,
            steps=[
                started_step("backend", lambda: backend),
                started_step("solicit", lambda: solicit),
            ],
        ),
        routers=[router, surveys_router, alerts_router],
        state={"backend": backend, "solicit": solicit},
        checks=checks,
    )
    _install_web(app, settings)
    _install_error_pages(app, settings)
    return app


def _install_web(app: FastAPI, settings: ConsoleSettings) -> None:
    """Sessions, security headers, static files and the favicon."""
    # Added last, so it runs first: the session is there for every handler and error page.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.effective_session_secret,
        session_cookie="feedloop_console",
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.cookies_secure,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> HTMLResponse:
        return HTMLResponse(status_code=204)


def _install_error_pages(app: FastAPI, settings: ConsoleSettings) -> None:
    """Not signed in: to the login page (local) or a 401 page; API errors as error pages."""

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if settings.local_login:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return TEMPLATES.TemplateResponse(
            request,
            "error.html",
            {
                "person": None,
                "status": 401,
                "detail": "Sign in through the company's sign-in "
                "proxy: this request carried no identity from a trusted proxy.",
            },
            status_code=401,
        )

    @app.exception_handler(BackendError)
    async def _backend_error(request: Request, exc: BackendError) -> Response:
        status = exc.status if exc.status in (404, 409, 422) else 502
        return TEMPLATES.TemplateResponse(
            request,
            "error.html",
            {
                "person": getattr(request.state, "person", None),
                "csrf": csrf_token(request),
                "status": status,
                "detail": exc.detail,
            },
            status_code=status,
        )
