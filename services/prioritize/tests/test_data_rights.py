"""Data rights in prioritize through the real broker: audited edits, erasure that keeps counts."""

import asyncio
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import encode
from feedloop.common.events import CustomerErasureRequested, Envelope, utcnow

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic

from .factory import enriched, record
from .test_lifecycle import wait_for_total


async def test_every_issue_edit_is_audited_with_its_client_and_served_filtered(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
    kafka_bootstrap: str,
) -> None:
    items = [enriched(f"a{i}", customer=f"c-{i}", cluster="fit") for i in range(3)]
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])
        issue = (await wait_for_total(client, "/v1/issues", "total", 1))["items"][0]
        path = f"/v1/issues/{issue['id']}"
        assert (await client.patch(path, json={"owner": "ana"})).status_code == 200
        resolve = {"status": "resolved", "resolution_message": "Fixed the zip."}
        assert (await client.patch(path, json=resolve)).status_code == 200
        audit = (await client.get("/v1/audit", params={"target_id": issue["id"]})).json()
        resolved_only = (await client.get("/v1/audit", params={"action": "issue.resolved"})).json()
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("issue.resolved", "tests"),
        ("issue.edited", "tests"),
    ], audit
    assert audit[0]["detail"]["resolution_message"] == "Fixed the zip."
    assert [e["target_id"] for e in resolved_only] == [issue["id"]]
    published = await read_topic(kafka_bootstrap, topic_prefix + topics.AUDIT, idle_s=0.5)
    actions = sorted(orjson.loads(r.value)["payload"]["action"] for r in published)
    assert actions == ["issue.edited", "issue.resolved"]


async def test_an_erasure_anonymises_the_rows_and_keeps_every_count(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
    kafka_bootstrap: str,
) -> None:
    items = [enriched(f"e{i}", customer=f"c-{i % 2}", cluster="fit") for i in range(4)]
    request = CustomerErasureRequested(
        request_id="r-1", customer_id="c-0", requested_at=utcnow(), requested_by="tests"
    )
    erasure = encode(
        Envelope.wrap(request, event_id="r-1", producer="notify", correlation_id="r-1"),
        key="c-0",
        prefix=topic_prefix,
    )
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])
        issue = (await wait_for_total(client, "/v1/issues", "total", 1))["items"][0]
        before = await counts(client, issue["id"])
        for _ in range(50):
            if before["issue"][0] == 4:
                break
            await asyncio.sleep(0.2)
            before = await counts(client, issue["id"])
        assert len((await client.get("/v1/customers/c-0/data")).json()["feedback"]) == 2
        await send_all(raw_producer, [erasure, erasure])  # a repeat changes nothing
        confirmations = await confirmations_of(kafka_bootstrap, topic_prefix, "r-1")
        after = await counts(client, issue["id"])
        exported = (await client.get("/v1/customers/c-0/data")).json()
    assert confirmations[0]["counts"]["feedback_rows"] == 2
    assert exported["feedback"] == []
    assert after == before


async def counts(client: httpx.AsyncClient, issue_id: str) -> dict[str, Any]:
    """The issue's counts and the overall KPI scores."""
    issue = (await client.get(f"/v1/issues/{issue_id}")).json()
    scores = (await client.get("/v1/kpis/scores")).json()
    return {
        "issue": (issue["feedback_count"], issue["distinct_customers"]),
        "overall": scores["overall"],
    }


async def confirmations_of(bootstrap: str, prefix: str, request_id: str) -> list[dict[str, Any]]:
    """prioritize's customer.erased confirmations of a request, once there."""
    for _ in range(100):
        records = await read_topic(bootstrap, prefix + topics.CUSTOMER_REQUESTS, idle_s=0.3)
        found = [
            orjson.loads(r.value)["payload"]
            for r in records
            if b"customer.erased" in (r.value or b"")
        ]
        if found:
            await asyncio.sleep(1)  # the repeat is handled too
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("no confirmation")
