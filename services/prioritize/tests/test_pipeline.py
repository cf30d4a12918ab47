"""enriched -> store -> issues -> prioritized, on SQLite and PostgreSQL, with the real broker."""

from collections import Counter
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode, header
from feedloop.common.events import FeedbackPrioritized, IssueUpdated

from tests.support.clients import AppClient, send_all
from tests.support.kafka import Record, read_topic
from tests.support.polling import eventually

from .factory import enriched, record


def events_of(records: list[Record]) -> list[Any]:
    return [decode(r.value, accept=[FeedbackPrioritized, IssueUpdated]) for r in records]


async def one_pattern_issue(client: httpx.AsyncClient) -> dict[str, Any]:
    """Waits for the three customers' complaints to form the one pattern issue."""

    async def one_pattern() -> Any:
        body = (await client.get("/v1/issues", params={"pattern": "true"})).json()
        return body["items"] if body["total"] == 1 else None

    issues = await eventually(one_pattern)
    assert issues, (await client.get("/v1/issues")).json()
    issue: dict[str, Any] = issues[0]
    assert (issue["distinct_customers"], issue["feedback_count"]) == (3, 3)
    assert issue["theme"] == "sizing"
    assert issue["priority"]["score"] > 0
    assert {f["name"] for f in issue["priority"]["factors"]} >= {"reach", "severity"}
    return issue


async def check_duplicate_linked(client: httpx.AsyncClient, issue: dict[str, Any]) -> None:
    """a4 (near-duplicate of a1) ends up among the issue's representative feedback."""

    async def with_the_duplicate() -> Any:
        # a4 may come in a later batch than the three that made the pattern.
        body = (await client.get(f"/v1/issues/{issue['id']}")).json()
        return body if len(body["representative_feedback"]) == 4 else None

    detail = await eventually(with_the_duplicate)
    assert detail, (await client.get(f"/v1/issues/{issue['id']}")).json()
    assert detail["status_history"][0]["status"] == "new"


async def resolve_issue(client: httpx.AsyncClient, issue: dict[str, Any]) -> int:
    """Resolving needs a message (422 problem+json without); returns the new version."""
    refused = await client.patch(f"/v1/issues/{issue['id']}", json={"status": "resolved"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    resolved = await client.patch(
        f"/v1/issues/{issue['id']}",
        json={"status": "resolved", "resolution_message": "Sizes fixed.", "owner": "ana"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["version"] == issue["version"] + 1
    version: int = resolved.json()["version"]
    return version


def has_resolution(rs: list[Record]) -> bool:
    return any(
        e.event_type == "issue.updated" and e.payload.status == "resolved" for e in events_of(rs)
    )


def check_prioritized_flow(out: list[Record], issue_id: str, resolved_version: int) -> None:
    """Each item linked once, keyed by its issue, versions in order, no event twice."""
    events = events_of(out)
    linked = [e.payload.feedback.feedback_id for e in events if e.event_type.startswith("feedback")]
    assert sorted(Counter(linked).values()) == [1, 1, 1, 1, 1]
    kinds = {e.payload.kind for e in events if e.event_type.startswith("feedback")}
    assert kinds == {"complaint", "praise"}
    assert all(
        r.key == issue_id.encode()
        for r, e in zip(out, events, strict=True)
        if e.event_type == "issue.updated" or e.payload.kind == "complaint"
    )
    versions = [e.payload.version for e in events if e.event_type == "issue.updated"]
    assert versions == sorted(versions) and versions[-1] == resolved_version
    assert len({e.event_id for e in events}) == len(events)


async def test_complaints_from_three_customers_form_one_pattern_and_events_flow(
    app_client: AppClient,
    database_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    items = [
        enriched("a1", customer="c-1", tier="enterprise", arr=120_000),
        enriched("a2", customer="c-2", answers=[{"metric": "nps", "score": 2}]),
        enriched("a3", customer="c-3"),
        enriched("a4", customer="c-1"),  # near-duplicate of a1: linked, not counted
        enriched("p1", customer="c-4", label="positive", score=0.9),  # praise: its own group
    ]
    records = [record(item, prefix=topic_prefix) for item in items]
    records.append(records[0])  # a replay of the same event
    async with app_client(database_url) as client:
        await send_all(raw_producer, records)
        await raw_producer.send_and_wait(
            topic_prefix + topics.ENRICHED, b"{not json", key=b"sizing"
        )
        issue = await one_pattern_issue(client)
        await check_duplicate_linked(client, issue)
        resolved_version = await resolve_issue(client, issue)
        prioritized = topic_prefix + topics.PRIORITIZED
        out = await read_topic(kafka_bootstrap, prioritized, until=has_resolution)
    check_prioritized_flow(out, issue["id"], resolved_version)
    dlq = await read_topic(kafka_bootstrap, topic_prefix + "enriched.dlq", until=bool)
    assert header(dlq[0].headers, topics.HEADER_DLQ_REASON) == "invalid_json"


async def test_issues_api_needs_a_key_with_the_right_scope(
    app_client: AppClient, sqlite_url: str
) -> None:
    async with app_client(sqlite_url, consume=False) as client:
        anonymous = await client.get("/v1/issues", headers={"X-API-Key": ""})
        missing = await client.get("/v1/issues/nope")
        ready = await client.get("/readyz")
    assert anonymous.status_code == 401
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert ready.json()["checks"] == {"kafka": True, "database": True}
