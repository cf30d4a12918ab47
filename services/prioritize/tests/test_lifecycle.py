"""Merge, split, regression reopen, closure and KPIs through the API."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common.codec import encode
from feedloop.common.events import Envelope, FeedbackClosed

from tests.support.clients import AppClient, send_all

from .factory import enriched, record


async def wait_for_total(client: httpx.AsyncClient, path: str, key: str, want: int) -> Any:
    """Polls a GET until body[key] reaches `want`."""
    body: Any = None
    for _ in range(100):
        body = (await client.get(path)).json()
        if body[key] >= want:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(body)


async def test_two_clusters_of_a_theme_merge_into_one_issue_and_split_back(
    app_client: AppClient, sqlite_url: str, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    items = [enriched(f"m{i}", customer=f"c-{i}", cluster="fit") for i in range(3)]
    items += [enriched(f"z{i}", customer=f"c-{i}", cluster="zip") for i in range(2)]
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])
        body = await wait_for_total(client, "/v1/issues", "total", 2)
        big, small = sorted(body["items"], key=lambda i: -i["feedback_count"])
        assert (big["is_pattern"], small["is_pattern"]) == (True, False)
        merged = await client.post(f"/v1/issues/{small['id']}/merge", json={"into": big["id"]})
        assert merged.status_code == 200, merged.text
        assert merged.json()["feedback_count"] == 5
        assert merged.json()["distinct_customers"] == 3
        listed = (await client.get("/v1/issues")).json()
        assert [i["id"] for i in listed["items"]] == [big["id"]]
        members = (await client.get(f"/v1/issues/{big['id']}")).json()["representative_feedback"]
        split = await client.post(
            f"/v1/issues/{big['id']}/split",
            json={"feedback_ids": [m["feedback_id"] for m in members[:2]]},
        )
        assert split.status_code == 201, split.text
        assert split.json()["feedback_count"] == 2
        again = await client.post(f"/v1/issues/{small['id']}/merge", json={"into": big["id"]})
        assert again.status_code == 409


async def test_complaints_after_a_resolution_reopen_the_issue_and_kpis_show_it(
    app_client: AppClient, sqlite_url: str, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    before = [
        enriched(
            f"b{i}", customer=f"c-{i}", occurred_at=old, answers=[{"metric": "nps", "score": 1}]
        )
        for i in range(4)
    ]
    praise = [
        enriched(f"g{i}", customer=f"g-{i}", label="positive", score=0.8, occurred_at=old)
        for i in range(4)
    ]
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in before + praise])
        issue = (await wait_for_total(client, "/v1/issues", "total", 1))["items"][0]
        resolved = await client.patch(
            f"/v1/issues/{issue['id']}",
            json={"status": "resolved", "resolution_message": "Fixed the size chart."},
        )
        assert resolved.json()["status"] == "resolved"
        closed = FeedbackClosed(
            feedback_id=before[0].feedback_id,
            issue_id=issue["id"],
            customer_id="c-0",
            channel="email",
            outcome="delivered",
            closed_at=datetime.now(UTC),
            time_to_close_seconds=3600,
        )
        wire = encode(
            Envelope.wrap(closed, event_id="x1", producer="notify", correlation_id="x"),
            key=issue["id"],
            prefix=topic_prefix,
        )
        after = [enriched(f"n{i}", customer=f"n-{i}") for i in range(3)]
        await send_all(raw_producer, [wire, *(record(i, prefix=topic_prefix) for i in after)])
        for _ in range(100):
            detail = (await client.get(f"/v1/issues/{issue['id']}")).json()
            if detail["status"] == "new":
                break
            await asyncio.sleep(0.2)
        assert detail["status"] == "new", detail
        assert [h["status"] for h in detail["status_history"]] == ["new", "resolved", "new"]
        impact = (await client.get(f"/v1/kpis/issues/{issue['id']}/impact")).json()
        assert impact["before"] == {"complaints": 4, "feedback": 8}
        assert impact["after"]["complaints"] == 3
        assert impact["p_value_fisher"] is not None
        scores = (await client.get("/v1/kpis/scores")).json()
        assert scores["overall"]["nps"]["score"] == -100.0
        assert "sizing" in scores["by"]["theme"]
        themes = (await client.get("/v1/kpis/themes", params={"bucket": "week"})).json()
        assert sum(b["volume"] for b in themes["themes"]["sizing"]) == 11
        assert (await client.get("/v1/kpis/spikes")).status_code == 200
        closure = await wait_for_total(client, "/v1/kpis/closure", "closed", 1)
        assert closure["time_to_close_s"]["median"] == 3600
