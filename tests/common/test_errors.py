"""Domain errors raised below the HTTP layer answer the same problem+json a route would."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from feedloop.common.errors import Conflict, Invalid, NotFound, Unavailable, install_error_handlers
from feedloop.common.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("issue 'x' does not exist", kind="issue-not-found")

    @app.get("/merged")
    async def merged() -> None:
        raise Conflict("issue 'x' was already merged")

    @app.get("/invalid")
    async def invalid() -> None:
        raise Invalid.field("resolution_message", "required to resolve", error_type="missing")

    @app.get("/down")
    async def down() -> None:
        raise Unavailable("the broker is unreachable", retry_after=7)

    return app


def test_not_found_keeps_its_narrowed_type_and_names_the_path() -> None:
    response = TestClient(_app()).get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "https://feedloop.dev/problems/issue-not-found",
        "title": "Not found",
        "status": 404,
        "detail": "issue 'x' does not exist",
        "instance": "/missing",
    }


def test_conflict_defaults_its_type_from_the_title() -> None:
    body = TestClient(_app()).get("/merged").json()
    assert (body["status"], body["type"]) == (409, "https://feedloop.dev/problems/conflict")


def test_invalid_field_lists_the_field_like_request_validation() -> None:
    body = TestClient(_app()).get("/invalid").json()
    assert body["status"] == 422
    assert body["type"].endswith("/validation-failed")
    assert body["detail"] == "resolution_message: required to resolve"
    assert body["errors"] == [
        {"field": "resolution_message", "message": "required to resolve", "type": "missing"}
    ]


def test_unavailable_tells_the_client_when_to_retry() -> None:
    response = TestClient(_app()).get("/down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["title"] == "Service unavailable"
