"""RFC 9457 problem details for every error response, naming the offending field."""

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from feedloop.common.responses import FastJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://feedloop.dev/problems/"

log = logging.getLogger(__name__)

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; extension members may follow.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Identifies the problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, naming the field."},
        "instance": {"type": "string", "description": "The request path."},
        "field": {"type": "string", "description": "The offending field or header."},
        "errors": {
            "type": "array",
            "description": "Every invalid field (validation problems).",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {"type": "string", "description": "Dotted path, e.g. 'until'."},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Missing or invalid API key",
    403: "The API key lacks the scope this route needs",
    404: "Not found",
    409: "Conflicts with the resource's current state",
    413: "Request body too large",
    422: "Invalid request; the problem names each field",
    429: "Rate limit exceeded; retry after Retry-After seconds",
    503: "Temporarily unavailable; retry after Retry-After seconds",
}
AUTHENTICATED = (401, 403, 429)
"""What every route behind an API key can answer."""


def problem_responses(
    *statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem+json errors a route can answer."""
    texts = _DESCRIPTIONS | (descriptions or {})
    return {
        status: {
            "description": texts.get(status, "Problem"),
            "content": _PROBLEM_CONTENT,
        }
        for status in statuses
    }


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrites an OpenAPI document so every error it lists is the problem+json we answer.

    FastAPI documents its 422 as application/json HTTPValidationError, and any `responses=`
    entry gains an empty application/json schema; our handlers answer neither.
    """
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                other = {t: c for t, c in content.items() if t != PROBLEM_MEDIA_TYPE}
                is_problem = PROBLEM_MEDIA_TYPE in content or not any(
                    c.get("schema") for c in other.values()
                )
                if code.isdigit() and int(code) >= 400 and (int(code) < 500 or is_problem):
                    response["content"] = {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
                    if code == "422" and response.get("description") == "Validation Error":
                        response["description"] = _DESCRIPTIONS[422]
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return document


def install_problem_openapi(app: FastAPI) -> None:
    """Makes app.openapi() describe errors as problem+json (see document_problems)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path.

    Asks each route whether it would fully match the path with each method, rather than
    reading `route.methods`: FastAPI nests included routers, whose methods are not exposed.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


class Problem(Exception):
    """An error answered as application/problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(problem: Problem, instance: str | None = None) -> FastJSONResponse:
    """Renders a Problem as a response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(problem.extensions)
    return FastJSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _generic(loc: list[str]) -> list[str]:
    # Validator functions appear in locations as `function-after[...]`: not client fields.
    return [part for part in loc if not part.startswith("function-")]


def field_errors(
    errors: list[Any], *, strip: Callable[[list[str]], list[str]] | None = None
) -> list[dict[str, str]]:
    """Turns pydantic errors into [{field, message, type}] with dotted field paths.

    `strip` drops location parts the client never sent, such as a tagged union's tags
    (feedback.without_union_tags).
    """
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        loc = _generic(strip(loc) if strip else loc)
        discriminator = (error.get("ctx") or {}).get("discriminator")
        if error.get("type") == "union_tag_invalid" and discriminator:
            loc = [*loc, str(discriminator).strip("'")]
        out.append(
            {
                "field": ".".join(loc) or "(body)",
                "message": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Makes every error of the app a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> FastJSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> FastJSONResponse:
        errors = field_errors(list(exc.errors()))
        first = errors[0] if errors else {"field": "(body)", "message": "invalid"}
        return problem_response(
            Problem(
                422,
                "Validation failed",
                f"{first['field']}: {first['message']}",
                kind="validation-failed",
                errors=errors,
            ),
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names only the first route whose path matched.
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            Problem(
                exc.status_code,
                titles.get(exc.status_code, "HTTP error"),
                str(exc.detail),
                headers=headers,
            ),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            Problem(500, "Internal error", "an unexpected error occurred; it was logged"),
            request.url.path,
        )
