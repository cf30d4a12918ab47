"""What fuzzing found where the services and their OpenAPI documents disagree, pinned.

Each test states the documented (or intended) behaviour and is expected to fail today
(strict: once fixed, it passes, xfail turns into an error and the marker must go).
"""

import httpx
import pytest

from .conftest import API_KEY, committed_document

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ITEM = {
    "channel": "in_app",
    "source_system": "fuzz",
    "external_id": "epoch-0",
    "customer": {"id": "c-0"},
    "text": "The app crashes when I open my orders.",
}


@pytest.mark.xfail(strict=True, reason="bug: ingest reads an integer occurred_at as epoch seconds")
async def test_ingest_refuses_an_integer_occurred_at_that_the_schema_types_as_a_string(
    live_ingest: str,
) -> None:
    documented = committed_document("ingest")["components"]["schemas"]["InAppFeedback"]
    assert documented["properties"]["occurred_at"]["type"] == "string"
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post("/v1/feedback", json=ITEM | {"occurred_at": 0})
    assert response.status_code == 422, response.text


@pytest.mark.xfail(strict=True, reason="doc gap: 422 documented as FastAPI's application/json")
@pytest.mark.parametrize("service", ["ingest", "prioritize"])
def test_committed_openapi_documents_422_as_the_problem_json_the_services_answer(
    service: str,
) -> None:
    wrong = [
        f"{method.upper()} {path}"
        for path, operations in committed_document(service)["paths"].items()
        for method, operation in operations.items()
        if "422" in operation.get("responses", {})
        and "application/problem+json" not in operation["responses"]["422"].get("content", {})
    ]
    assert not wrong, f"422 not documented as application/problem+json: {wrong}"


async def test_services_answer_validation_errors_as_problem_json(
    live_ingest: str, live_prioritize: str
) -> None:
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}) as client:
        ingest = await client.post(live_ingest + "/v1/feedback", json={"channel": "survey"})
        issues = await client.get(live_prioritize + "/v1/issues", params={"until": "AAA"})
    for response in (ingest, issues):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 422


@pytest.mark.xfail(strict=True, reason="doc gap: the batch endpoint's 400 (malformed JSON)")
async def test_batch_endpoint_documents_the_400_it_answers_to_malformed_json(
    live_ingest: str,
) -> None:
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post(
            "/v1/feedback/batch", content=b"{", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    documented = committed_document("ingest")["paths"]["/v1/feedback/batch"]["post"]["responses"]
    assert "400" in documented


@pytest.mark.xfail(strict=True, reason="Starlette: a 405's Allow names the first route's methods")
async def test_a_405_names_every_method_the_issue_resource_supports(live_prioritize: str) -> None:
    async with httpx.AsyncClient(
        base_url=live_prioritize, headers={"X-API-Key": API_KEY}
    ) as client:
        response = await client.options("/v1/issues/some-issue")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == {"GET", "PATCH"}


@pytest.mark.parametrize("body", [b"[null, null]", b"{}", b'{"items": []}', b'{"items": 5}'])
async def test_batch_body_that_is_not_an_object_of_items_is_a_422_problem_not_a_500(
    live_ingest: str, body: bytes
) -> None:
    # Found by schemathesis: these answered 500 until submit_batch turned them into a 422.
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post(
            "/v1/feedback/batch", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.xfail(strict=True, reason="bug: 500s found by a deeper fuzz run (300 examples)")
@pytest.mark.parametrize(
    "path",
    [
        "/v1/issues?offset=170557612451645227008",
        "/v1/kpis/themes?until=0001-01-01T07:06:00Z",
        "/v1/kpis/spikes?since=0001-01-01T00:00:03Z",
    ],
)
async def test_prioritize_answers_out_of_range_queries_without_a_500(
    live_prioritize: str, path: str
) -> None:
    async with httpx.AsyncClient(
        base_url=live_prioritize, headers={"X-API-Key": API_KEY}
    ) as client:
        response = await client.get(path)
    assert response.status_code < 500, response.text
