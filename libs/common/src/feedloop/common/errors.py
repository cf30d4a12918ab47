"""Domain errors: what store and service modules raise, mapped to problem+json at the edge.

Store and service code never speaks HTTP: it raises `NotFound`, `Conflict`, `Invalid`, ...
and `install_error_handlers(app)` turns each into the same problem+json answer a route would
give, in one place. A subclass may narrow the problem type (`kind`) or title.
"""

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from feedloop.common.problems import Problem, problem_response
from feedloop.common.responses import FastJSONResponse


class DomainError(Exception):
    """Base of every domain error; `status` is read only by the HTTP edge."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    kind: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problem_title = title or type(self).title
        self.problem_kind = kind or type(self).kind
        self.headers = headers or {}
        self.extensions = extensions

    def as_problem(self) -> Problem:
        """The problem+json this error is answered with."""
        return Problem(
            self.status,
            self.problem_title,
            self.detail,
            kind=self.problem_kind,
            headers=self.headers,
            **self.extensions,
        )


class NotFound(DomainError):
    """The named resource does not exist."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with the resource's current state."""

    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """The request is well-formed but its values break a domain rule."""

    status = 422
    title = "Validation failed"
    kind = "validation-failed"

    @classmethod
    def field(cls, name: str, message: str, *, error_type: str = "value_error") -> "Invalid":
        """An error naming one offending field, shaped like request validation errors."""
        return cls(
            f"{name}: {message}",
            field=name,
            errors=[{"field": name, "message": message, "type": error_type}],
        )


class Forbidden(DomainError):
    """The caller may not do this."""

    status = 403
    title = "Forbidden"


class TooLarge(DomainError):
    """The request carries more than the service takes at once."""

    status = 413
    title = "Payload too large"


class Unavailable(DomainError):
    """A dependency is down for now; the caller should retry after `retry_after` seconds."""

    status = 503
    title = "Service unavailable"

    def __init__(
        self, detail: str, *, retry_after: int = 5, kind: str | None = None, **extensions: Any
    ) -> None:
        headers = {"Retry-After": str(retry_after)}
        super().__init__(detail, kind=kind, headers=headers, **extensions)
        self.retry_after = retry_after


def install_error_handlers(app: FastAPI) -> None:
    """Answers every DomainError the app's routes let through as problem+json."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> FastJSONResponse:
        return problem_response(exc.as_problem(), request.url.path)
