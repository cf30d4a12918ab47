"""RFC 9457 problem details for every error response, naming the offending field."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from feedloop.common.responses import FastJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://feedloop.dev/problems/"

log = logging.getLogger(__name__)


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


# Discriminator tags pydantic puts into error locations; they are not fields the client sent.
_CHANNEL_TAGS = frozenset(
    {"survey", "review", "support_ticket", "chat", "email", "social", "in_app"}
)
_ANSWER_TAGS = frozenset({"nps", "csat", "ces"})


def _without_tags(loc: list[str]) -> list[str]:
    kept = []
    for i, part in enumerate(loc):
        if i == 0 and part in _CHANNEL_TAGS and len(loc) > 1:
            continue
        if i >= 2 and loc[i - 2] == "answers" and part in _ANSWER_TAGS:
            continue
        if part.startswith("function-"):
            continue
        kept.append(part)
    return kept


def field_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Turns pydantic errors into [{field, message, type}] with dotted field paths."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        loc = _without_tags(loc)
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
        return problem_response(
            Problem(
                exc.status_code,
                titles.get(exc.status_code, "HTTP error"),
                str(exc.detail),
                headers=dict(exc.headers or {}),
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
