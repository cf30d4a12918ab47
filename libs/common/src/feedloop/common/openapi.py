"""The OpenAPI document and the /docs and /redoc pages every service shares.

`install_openapi(app, settings)`, the last line of each service's create_app, makes the
document say what the code does (security schemes, response headers, readiness 503,
required discriminators, servers) and serves Swagger UI and ReDoc from the service itself:
their files come from the locked `fastapi-offline` wheel, never from a CDN, so the pages
render on a machine or cluster without internet.
"""

from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from feedloop.common.settings import ServiceSettings
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles

API_KEY_SCHEME = "ApiKey"
BEARER_SCHEME = "Bearer"
SECURITY_SCHEMES: dict[str, Any] = {
    API_KEY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The client's API key.",
    },
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key, sent as `Authorization: Bearer <key>`.",
    },
}
# Either scheme alone authenticates a request.
PROTECTED: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]

RETRY_AFTER: dict[str, Any] = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 1},
}
WWW_AUTHENTICATE: dict[str, Any] = {
    "description": 'The scheme to authenticate with: `ApiKey header="X-API-Key"`.',
    "schema": {"type": "string"},
}
HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
HEALTH_TAG = "operations"
LICENSE = {"name": "Proprietary", "url": "https://feedloop.dev/license"}

HEALTH_SCHEMAS: dict[str, Any] = {
    "Liveness": {
        "title": "Liveness",
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "dead"]},
            "dead": {"type": "string", "description": "The background loops that died."},
        },
    },
    "Readiness": {
        "title": "Readiness",
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "checks": {
                "type": "object",
                "description": "Each dependency and whether it answered in time.",
                "additionalProperties": {"type": "boolean"},
            },
        },
    },
}
_HEALTH_RESPONSES: dict[str, dict[str, dict[str, Any]]] = {
    "/healthz": {
        "200": {"description": "The process and its background loops are alive"},
        "503": {"description": "A background loop died: restart the process"},
    },
    "/readyz": {
        "200": {"description": "Every dependency is reachable"},
        "503": {"description": "A dependency is unreachable: send no traffic yet"},
    },
}
_HEALTH_SCHEMA = {"/healthz": "Liveness", "/readyz": "Readiness"}

TAG_DESCRIPTIONS = {
    HEALTH_TAG: "Liveness and readiness probes; no API key needed.",
    "feedback": "Submit customer feedback.",
    "analysis": "Analyse text without publishing it.",
    "issues": "Issues: groups of feedback about one problem, and their triage.",
    "kpis": "Closure, priority, spike and theme figures.",
    "notifications": "Notifications sent to customers, and their delivery.",
    "customers": "Customers' notification preferences and erasure.",
}

STATIC_PACKAGE = "fastapi_offline"
# The pages may load nothing from elsewhere: the browser refuses it (ReDoc's sidebar links an
# image on a CDN, which is then simply not shown). Their bootstrap scripts are inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'self'"
)
STATIC_PATH = "/docs/static"


def require_discriminators(document: Any, schemas: dict[str, Any]) -> None:
    """Makes each discriminator's property required in the schemas its mapping names.

    `document` is searched for discriminators; `schemas` holds the named schemas their
    mappings point at. pydantic leaves a `Literal` tag with a default out of `required`, yet
    a tagged union refuses input without it; left optional, the branches overlap.
    """
    for schema in _walk(document):
        discriminator = schema.get("discriminator")
        if not isinstance(discriminator, dict):
            continue
        name = discriminator["propertyName"]
        for ref in discriminator.get("mapping", {}).values():
            target = schemas.get(str(ref).rsplit("/", 1)[-1])
            if isinstance(target, dict) and name in target.get("properties", {}):
                required = target.setdefault("required", [])
                if name not in required:
                    required.insert(0, name)


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def describe(document: dict[str, Any], *, port: int) -> dict[str, Any]:
    """Completes a FastAPI OpenAPI document with what the shared code does at run time."""
    document["info"].setdefault("license", LICENSE)
    # Relative: the service that serves this document (and /docs' "Try it out").
    document["servers"] = [
        {"url": "/", "description": f"This service; locally (`make run`) localhost:{port}"},
    ]
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas = components.setdefault("schemas", {})
    schemas.update(HEALTH_SCHEMAS)
    used_tags: set[str] = set()
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            used_tags.update(operation.get("tags", []))
            responses = operation.setdefault("responses", {})
            if path in HEALTH_PATHS:
                operation["security"] = []
                for code, response in _HEALTH_RESPONSES.get(path, {}).items():
                    ref = {"$ref": f"#/components/schemas/{_HEALTH_SCHEMA[path]}"}
                    responses[code] = response | {"content": {"application/json": {"schema": ref}}}
                continue
            if "401" in responses:
                operation["security"] = PROTECTED
                responses["401"].setdefault("headers", {})["WWW-Authenticate"] = WWW_AUTHENTICATE
            else:
                operation["security"] = []
            for code in ("429", "503"):
                if code in responses:
                    responses[code].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    require_discriminators(document, schemas)
    document["tags"] = [
        {"name": tag, "description": TAG_DESCRIPTIONS.get(tag, f"The {tag} routes.")}
        for tag in sorted(used_tags)
    ]
    return document


def install_openapi(app: FastAPI, settings: ServiceSettings) -> FastAPI:
    """Completes app.openapi() (see describe) and serves /docs and /redoc without a CDN.

    Call it last in create_app, once every router and OpenAPI hook is installed; a second
    call changes nothing. Returns the app.
    """
    if getattr(app.state, "openapi_installed", False):
        return app
    app.state.openapi_installed = True
    build: Callable[[], dict[str, Any]] = app.openapi
    port = int(type(settings).model_fields["port"].default)
    cached: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.append(describe(build(), port=port))
        return cached[0]

    app.openapi = openapi  # type: ignore[method-assign]
    install_docs(app)
    return app


def static_dir() -> str:
    """The folder of Swagger UI's and ReDoc's files inside the locked wheel."""
    return str(resources.files(STATIC_PACKAGE) / "static")


def install_docs(app: FastAPI) -> None:
    """Replaces FastAPI's CDN-loading /docs and /redoc with pages served from this app."""
    docs_url, redoc_url, openapi_url = app.docs_url, app.redoc_url, app.openapi_url
    if openapi_url is None or (docs_url is None and redoc_url is None):
        return
    replaced = {docs_url, redoc_url}
    kept: list[BaseRoute] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path in replaced)
    ]
    app.router.routes[:] = kept
    app.mount(STATIC_PATH, StaticFiles(directory=static_dir()), name="docs-static")
    title = app.title

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    if docs_url is not None:
        oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

        async def swagger_ui(request: Request) -> HTMLResponse:
            root = prefix(request)
            return _no_elsewhere(
                get_swagger_ui_html(
                    openapi_url=root + openapi_url,
                    title=f"{title} - Swagger UI",
                    swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
                    swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
                    swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
                    oauth2_redirect_url=root + oauth2_redirect_url if oauth2_redirect_url else None,
                    init_oauth=app.swagger_ui_init_oauth,
                    # No badge from the public validator: nothing may leave the machine.
                    swagger_ui_parameters={"validatorUrl": None}
                    | (app.swagger_ui_parameters or {}),
                )
            )

        app.add_route(docs_url, swagger_ui, include_in_schema=False)

    if redoc_url is not None:

        async def redoc(request: Request) -> HTMLResponse:
            root = prefix(request)
            return _no_elsewhere(
                get_redoc_html(
                    openapi_url=root + openapi_url,
                    title=f"{title} - ReDoc",
                    redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
                    redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
                    with_google_fonts=False,
                )
            )

        app.add_route(redoc_url, redoc, include_in_schema=False)


def _no_elsewhere(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page
