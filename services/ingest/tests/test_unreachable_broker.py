"""No broker to acknowledge: 503 problems with Retry-After, and nothing remembered as accepted."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings

from .conftest import WRITE_KEY, clients_json, survey

NOBODY = "127.0.0.1:9"  # discard port: nothing answers Kafka there


@asynccontextmanager
async def unacknowledged() -> AsyncIterator[httpx.AsyncClient]:
    """An ingest app whose broker never answers (no test broker needed)."""
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap_servers=NOBODY,
        api_keys=clients_json(),
        log_json=False,
        metrics_port=0,
        idempotency_warmup_hours=0,
        produce_timeout_s=0.5,
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ingest", headers={"X-API-Key": WRITE_KEY}
        ) as client:
            yield client


async def test_an_unacknowledged_item_is_a_503_and_its_retry_is_tried_again() -> None:
    async with unacknowledged() as client:
        first = await client.post("/v1/feedback", json=survey("u-1"))
        again = await client.post("/v1/feedback", json=survey("u-1"))
    for response in (first, again):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["Retry-After"] == "5"
        body = response.json()
        assert body["type"] == "https://feedloop.dev/problems/broker-unavailable"
        assert body["feedback_id"]


async def test_a_batch_nobody_acknowledges_is_a_503_counting_each_item() -> None:
    items = [survey("b-1"), survey("b-2"), {"channel": "survey"}]
    async with unacknowledged() as client:
        response = await client.post("/v1/feedback/batch", json={"items": items})
    assert response.status_code == 503, response.text
    body = response.json()
    assert (body["unavailable"], body["rejected"], body["accepted"]) == (2, 1, 0)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["unavailable", "unavailable", "rejected"]
    assert body["results"][0]["reason"] == "Kafka did not acknowledge in time; retry this item"
