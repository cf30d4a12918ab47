"""What fuzzing found where the services and their OpenAPI documents disagree, pinned.

Each test states the documented (or intended) behaviour. One still failing is marked
xfail(strict=True) with its reason, so that fixing it turns the marker into an error.
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


@pytest.mark.parametrize(
    "occurred_at", [0, 1700000000, 0.5, "1700000000", "2024-05-01", "2024-05-01T12:00:00"]
)
async def test_ingest_refuses_an_occurred_at_that_is_not_an_rfc3339_date_time_with_a_zone(
    live_ingest: str, occurred_at: object
) -> None:
    documented = committed_document("ingest")["components"]["schemas"]["InAppFeedback"]
    assert documented["properties"]["occurred_at"]["type"] == "string"
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post("/v1/feedback", json=ITEM | {"occurred_at": occurred_at})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["occurred_at"]


async def test_ingest_accepts_rfc3339_date_times_in_any_zone(live_ingest: str) -> None:
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        for n, occurred_at in enumerate(
            ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456+02:00", "2024-05-01t12:00:00z"]
        ):
            item = ITEM | {"external_id": f"rfc3339-{n}", "occurred_at": occurred_at}
            response = await client.post("/v1/feedback", json=item)
            assert response.status_code in (200, 202), response.text


@pytest.mark.parametrize("service", ["ingest", "enrich", "prioritize", "notify"])
def test_committed_openapi_documents_every_error_as_the_problem_json_the_services_answer(
    service: str,
) -> None:
    document = committed_document(service)
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation.get("responses", {}).items()
        if status.startswith("4")
        and list(response.get("content", {})) != ["application/problem+json"]
    ]
    assert not wrong, f"errors not documented as application/problem+json: {wrong}"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert {"type", "title", "status"} <= set(
        document["components"]["schemas"]["Problem"]["required"]
    )


@pytest.mark.parametrize("service", ["ingest", "enrich", "prioritize", "notify"])
def test_every_route_behind_an_api_key_documents_401_403_and_429(service: str) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, operations in committed_document(service)["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if not {"401", "403", "429"} <= set(operation["responses"])
    ]
    assert not missing, missing


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


async def test_batch_endpoint_documents_the_400_it_answers_to_malformed_json(
    live_ingest: str,
) -> None:
    async with httpx.AsyncClient(base_url=live_ingest, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post(
            "/v1/feedback/batch", content=b"{", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    documented = committed_document("ingest")["paths"]["/v1/feedback/batch"]["post"]["responses"]
    assert {"400", "401", "403", "413", "422", "429", "503"} <= set(documented)


async def test_a_405_names_every_method_the_issue_resource_supports(live_prioritize: str) -> None:
    async with httpx.AsyncClient(
        base_url=live_prioritize, headers={"X-API-Key": API_KEY}
    ) as client:
        response = await client.options("/v1/issues/some-issue")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
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


@pytest.mark.parametrize(
    ("path", "field"),
    [
        # Found by a deeper fuzz run (300 examples): these answered 500.
        ("/v1/issues?offset=170557612451645227008", "offset"),
        ("/v1/issues?limit=170557612451645227008", "limit"),
        ("/v1/kpis/themes?until=0001-01-01T07:06:00Z", "until"),
        ("/v1/kpis/spikes?since=0001-01-01T00:00:03Z", "since"),
        ("/v1/kpis/scores?until=9999-12-31T23:59:59Z", "until"),
        ("/v1/kpis/closure?since=0001-01-01T00:00:00%2B14:00", "since"),
        # Lax parsing read these as epoch seconds or dates.
        ("/v1/kpis/themes?until=0.5", "until"),
        ("/v1/issues?since=1700000000", "since"),
        ("/v1/issues?until=2024-05-01", "until"),
        ("/v1/issues?until=2024-05-01T12:00:00", "until"),
    ],
)
async def test_prioritize_answers_out_of_range_or_lax_queries_with_a_422_naming_the_parameter(
    live_prioritize: str, path: str, field: str
) -> None:
    async with httpx.AsyncClient(
        base_url=live_prioritize, headers={"X-API-Key": API_KEY}
    ) as client:
        response = await client.get(path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_prioritize_answers_in_range_date_time_queries(live_prioritize: str) -> None:
    async with httpx.AsyncClient(
        base_url=live_prioritize, headers={"X-API-Key": API_KEY}
    ) as client:
        for path in (
            "/v1/kpis/themes?until=1970-01-02T00:00:00Z",
            "/v1/kpis/spikes?since=1970-01-01T00:00:00Z&until=2024-05-01T00:00:00%2B02:00",
            "/v1/issues?since=2024-05-01T00:00:00Z&offset=1000000",
        ):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
