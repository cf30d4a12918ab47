"""The door's rules: keys, scopes, limits and validation, each answered as problem+json."""

import pytest

from .conftest import READ_ONLY_KEY, SLOW_KEY, AppFactory, survey

PROBLEM = "application/problem+json"


async def test_request_without_a_key_gets_401_problem(make_client: AppFactory) -> None:
    async with make_client() as client:
        response = await client.post("/v1/feedback", json=survey("a"), headers={"X-API-Key": ""})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "X-API-Key"
    assert "WWW-Authenticate" in response.headers


async def test_request_with_an_unknown_key_gets_401(make_client: AppFactory) -> None:
    async with make_client() as client:
        response = await client.post(
            "/v1/feedback", json=survey("a"), headers={"X-API-Key": "nope"}
        )
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key is not valid"


async def test_key_without_the_write_scope_gets_403(make_client: AppFactory) -> None:
    async with make_client() as client:
        response = await client.post(
            "/v1/feedback", json=survey("a"), headers={"X-API-Key": READ_ONLY_KEY}
        )
    assert response.status_code == 403
    assert response.json()["required_scope"] == "feedback:write"


async def test_body_over_the_limit_gets_413_before_it_is_read(make_client: AppFactory) -> None:
    async with make_client(max_body_bytes=2048) as client:
        response = await client.post("/v1/feedback", json=survey("big", text="x" * 5000))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["max_bytes"] == 2048


async def test_batch_over_the_item_limit_gets_413_naming_items(make_client: AppFactory) -> None:
    async with make_client(batch_max_items=3) as client:
        response = await client.post(
            "/v1/feedback/batch", json={"items": [survey(str(i)) for i in range(4)]}
        )
    assert response.status_code == 413
    assert response.json()["field"] == "items"


async def test_client_over_its_rate_gets_429_with_retry_after(make_client: AppFactory) -> None:
    async with make_client() as client:
        statuses = [
            (
                await client.post(
                    "/v1/feedback", json=survey(f"rl-{i}"), headers={"X-API-Key": SLOW_KEY}
                )
            ).status_code
            for i in range(4)
        ]
        limited = await client.post(
            "/v1/feedback", json=survey("rl-x"), headers={"X-API-Key": SLOW_KEY}
        )
    assert 429 in statuses
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answers": [{"metric": "nps", "score": 11}]}, "answers.0.score"),
        ({"answers": [{"metric": "csat", "score": 6, "scale_max": 5}]}, "answers.0"),
        (
            {"answers": [{"metric": "ces", "score": 2, "direction": "sideways"}]},
            "answers.0.direction",
        ),
        ({"customer": {"id": "c1", "email": "not-an-email"}}, "customer.email"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
        ({"colour": "red"}, "colour"),
        ({"channel": "fax"}, "channel"),
    ],
)
async def test_invalid_item_gets_422_problem_naming_the_field(
    make_client: AppFactory, change: dict[str, object], field: str
) -> None:
    async with make_client() as client:
        response = await client.post("/v1/feedback", json=survey("v") | change)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    fields = [e["field"] for e in response.json()["errors"]]
    assert field in fields, fields


async def test_each_channel_validates_its_own_fields(make_client: AppFactory) -> None:
    base = survey("ch")
    del base["answers"]
    review_without_platform = base | {"channel": "review", "rating": 2}
    review_out_of_scale = base | {"channel": "review", "rating": 7, "platform": "shop"}
    ticket = base | {"channel": "support_ticket", "ticket_id": "T-1", "external_id": "ch-t"}
    async with make_client() as client:
        r1 = await client.post("/v1/feedback", json=review_without_platform)
        r2 = await client.post("/v1/feedback", json=review_out_of_scale)
        r3 = await client.post("/v1/feedback", json=ticket)
    assert r1.status_code == 422
    assert "platform" in [e["field"] for e in r1.json()["errors"]]
    assert r2.status_code == 422
    assert r3.status_code == 202, r3.text


async def test_operations_endpoints_answer(make_client: AppFactory) -> None:
    async with make_client(api_docs=True) as client:
        await client.post("/v1/feedback", json=survey("ops"))
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
        docs = await client.get("/docs")
        spec = await client.get("/openapi.json")
    assert health.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"kafka": True}}
    assert 'feedloop_ingest_items_total{outcome="accepted"}' in metrics.text
    assert "feedloop_produce_latency_seconds_bucket" in metrics.text
    assert docs.status_code == 200
    assert "/v1/feedback/batch" in spec.json()["paths"]


async def test_docs_are_off_outside_local_mode_unless_configured(make_client: AppFactory) -> None:
    async with make_client() as client:
        docs = await client.get("/docs")
        spec = await client.get("/openapi.json")
    assert (docs.status_code, spec.status_code) == (404, 404)
