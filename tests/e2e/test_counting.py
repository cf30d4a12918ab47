"""The counting invariant: every accepted feedback item is closed, awaiting its issue, or
stored with nothing to close, exactly one of them; poison records are dead-lettered with a
reason while the partitions keep flowing; no event id appears twice on any output topic.
"""

import sqlite3
import uuid

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics

from scripts.demo.story import before
from tests.e2e.fixtures import needs
from tests.e2e.ledger import dead_letters, read
from tests.e2e.platform import Platform
from tests.e2e.story import API_KEY, issues, post_voices, stored_at_least
from tests.support.polling import eventually
from tests.support.receivers import running_sinks

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs("enrich", "notify")]


def poison(event_type: str) -> list[bytes]:
    """A record that is not JSON, and one of the topic's event type in an unknown version."""
    future = {"event_id": "from-the-future", "event_type": event_type, "schema_version": 99}
    return [b"{not json", orjson.dumps(future)]


async def test_every_accepted_item_is_closed_awaiting_or_stored_once_and_poison_is_dead_lettered(
    platform: Platform, raw_producer: AIOKafkaProducer
) -> None:
    run = uuid.uuid4().hex[:6]
    voices = before(run, 60, seed=3)
    async with running_sinks() as sinks:
        platform.extra_env["notify"] = sinks.notify_env()
        await platform.start()
        ingest, prioritize = platform.processes["ingest"].url, platform.processes["prioritize"].url
        first = await post_voices(ingest, voices[:5])
        # Poison ahead of the rest on every partition of both consumer-facing inputs.
        inputs = {topics.RAW_FEEDBACK: "feedback.received", topics.PRIORITIZED: "issue.updated"}
        for topic, event_type in inputs.items():
            for partition in range(3):
                for value in poison(event_type):
                    await raw_producer.send_and_wait(
                        platform.topic(topic), value, partition=partition
                    )
        accepted = first | await post_voices(ingest, voices[5:])
        assert len(accepted) == len(voices)
        await eventually(
            lambda: stored_at_least(prioritize, len(voices)),
            timeout_s=180,
            what="every voice stored",
            context=platform.tails,
        )
        top = (await issues(prioritize))[0]
        async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}) as client:
            response = await client.patch(
                f"{prioritize}/v1/issues/{top['id']}",
                json={"status": "resolved", "resolution_message": "Fixed, thank you."},
            )
        assert response.status_code == 200, response.text

        async def top_closed() -> bool:
            closed = await read(platform.bootstrap, platform.topic(topics.CLOSED), timeout_s=5)
            return (
                len({e["payload"]["feedback_id"] for e in closed.events}) >= top["feedback_count"]
            )

        await eventually(
            top_closed,
            timeout_s=90,
            what="the resolved issue's feedback closed",
            context=platform.tails,
        )

    enriched = await read(platform.bootstrap, platform.topic(topics.ENRICHED))
    prioritized = await read(platform.bootstrap, platform.topic(topics.PRIORITIZED))
    closed = await read(platform.bootstrap, platform.topic(topics.CLOSED))
    for ledger in (enriched, prioritized, closed):
        assert not ledger.repeated_ids(), f"{ledger.topic}: {ledger.repeated_ids()}"
    assert enriched.feedback_ids("feedback.enriched") == dict.fromkeys(accepted, 1)

    status = {i["id"]: i["status"] for i in await issues(prioritize, limit=500)}
    links = {
        e["payload"]["feedback"]["feedback_id"]: e["payload"]["issue_id"]
        for e in prioritized.of_type("feedback.prioritized")
    }
    closed_ids = closed.feedback_ids("feedback.closed")
    assert all(n == 1 for n in closed_ids.values()), closed_ids
    awaiting = {f for f, issue in links.items() if status[issue] != "resolved"}
    with sqlite3.connect(platform.workdir / "prioritize.db") as db:
        unlinked = {row[0] for row in db.execute("SELECT id FROM feedback WHERE issue_id IS NULL")}
    states = [set(closed_ids), awaiting, unlinked]
    for i, state in enumerate(states):
        for other in states[i + 1 :]:
            assert not state & other, f"counted twice: {state & other}"
    assert set().union(*states) == set(accepted), {
        "lost": set(accepted) - set().union(*states),
        "unknown": set().union(*states) - set(accepted),
    }
    assert {f for f, issue in links.items() if issue == top["id"]} == set(closed_ids)
    assert len(sinks.received("resolution")) == top["distinct_customers"]

    for source in (topics.RAW_FEEDBACK, topics.PRIORITIZED):
        dlq = await dead_letters(platform.bootstrap, platform.topic(topics.dlq_topic(source)))
        reasons = sorted(str(d["reason"]) for d in dlq)
        assert reasons == ["invalid_json"] * 3 + ["unsupported_schema_version"] * 3, (source, dlq)
        assert {d["source_topic"] for d in dlq} == {platform.topic(source)}
