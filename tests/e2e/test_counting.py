"""The counting invariant: every accepted feedback item is closed (once, with its loop outcome)
or awaiting an open issue (a complaint's issue not resolved, a question not answered), exactly
one of them, nothing in between; poison records are dead-lettered with a reason while the
partitions keep flowing; no event id appears twice on any output topic.
"""

import random
import uuid
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics

from scripts.demo.story import Voice, before, voice
from tests.e2e.fixtures import needs
from tests.e2e.ledger import Ledger, dead_letters, read
from tests.e2e.platform import Platform
from tests.e2e.story import API_KEY, issues, post_voices, stored_at_least
from tests.support.polling import eventually
from tests.support.receivers import running_sinks

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs("enrich", "notify")]


QUESTIONS = [
    "Does the medium correspond to UK 12 or 14?",
    "Could you tell me when the wool coat will be back in stock.",
]


def questions(run: str, start: int) -> list[Voice]:
    """Customers who ask something: each a one-off issue in the answer queue."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    return [
        voice(run=run, n=start + k, topic="question", text=text, when=now, rng=rng, negative=False)
        for k, text in enumerate(QUESTIONS)
    ]


def incidents(run: str, start: int) -> list[Voice]:
    """A customer whose one order went wrong: a one-off incident in the answer queue."""
    rng = random.Random(6)
    text = "I was charged twice for my order and the second payment is still not refunded."
    return [voice(run=run, n=start, topic="incident", text=text, when=datetime.now(UTC), rng=rng)]


async def answer_first(prioritize: str, kind: str = "question") -> str | None:
    """Answers the oldest open item of a kind (a question, or a one-off incident) through the
    inbox; returns its id (None: none open)."""
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=10) as client:
        queue = (
            await client.get(f"{prioritize}/v1/inbox", params={"status": "open", "kind": kind})
        ).json()
        if not queue["items"]:
            return None
        item_id = str(queue["items"][0]["id"])
        response = await client.post(
            f"{prioritize}/v1/inbox/{item_id}/answer", json={"answer": "It is a UK 12."}
        )
        assert response.status_code == 200, response.text
    return item_id


async def open_questions(prioritize: str) -> set[str]:
    """The ids of the questions still waiting for an answer."""
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=10) as client:
        queue = (
            await client.get(f"{prioritize}/v1/inbox", params={"status": "open", "limit": 200})
        ).json()
    return {str(i["id"]) for i in queue["items"]}


def kinds_of(prioritized: Ledger) -> dict[str, str]:
    """Each prioritized feedback item's kind (an event without one: a complaint)."""
    return {
        e["payload"]["feedback"]["feedback_id"]: e["payload"].get("kind") or "complaint"
        for e in prioritized.of_type("feedback.prioritized")
    }


def links_of(prioritized: Ledger, incident: str | None) -> dict[str, str]:
    """Where each prioritized item waits: its issue or group, or, an incident answered
    individually, the one-off issue its answer opened (the move is its last link)."""
    links: dict[str, str] = {}
    for e in prioritized.of_type("feedback.prioritized"):
        feedback_id, issue_id = e["payload"]["feedback"]["feedback_id"], e["payload"]["issue_id"]
        if incident is None or links.get(feedback_id) != incident:
            links[feedback_id] = issue_id
    return links


def poison(event_type: str) -> list[bytes]:
    """A record that is not JSON, and one of the topic's event type in an unknown version."""
    future = {"event_id": "from-the-future", "event_type": event_type, "schema_version": 99}
    return [b"{not json", orjson.dumps(future)]


async def test_every_accepted_item_is_closed_or_awaiting_once_and_poison_is_dead_lettered(
    platform: Platform, raw_producer: AIOKafkaProducer
) -> None:
    run = uuid.uuid4().hex[:6]
    voices = before(run, 60, seed=3) + questions(run, 60) + incidents(run, 62)
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

        answered = await answer_first(prioritize)
        # A one-off complaint (a delivery incident of one order, while its issue is no
        # pattern) answered individually: it leaves its issue, closed `answered`.
        incident = await answer_first(prioritize, "incident")
        assert incident is not None, "no one-off incident in the answer queue"

        async def settled() -> bool:
            # Closed: the resolved issue's items, the answered question, all praise and remarks.
            prioritized = await read(platform.bootstrap, platform.topic(topics.PRIORITIZED))
            kinds = kinds_of(prioritized)
            closed = await read(platform.bootstrap, platform.topic(topics.CLOSED), timeout_s=5)
            expected = top["feedback_count"] + (answered is not None) + (incident is not None)
            expected += sum(1 for k in kinds.values() if k in ("praise", "remark"))
            return len(kinds) == len(accepted) and (
                len(closed.feedback_ids("feedback.closed")) >= expected
            )

        await eventually(
            settled,
            timeout_s=120,
            what="the resolved issue's items, the answer, praise and remarks closed",
            context=platform.tails,
        )
        still_open = await open_questions(prioritize)

    enriched = await read(platform.bootstrap, platform.topic(topics.ENRICHED))
    prioritized = await read(platform.bootstrap, platform.topic(topics.PRIORITIZED))
    closed = await read(platform.bootstrap, platform.topic(topics.CLOSED))
    for ledger in (enriched, prioritized, closed):
        assert not ledger.repeated_ids(), f"{ledger.topic}: {ledger.repeated_ids()}"
    assert enriched.feedback_ids("feedback.enriched") == dict.fromkeys(accepted, 1)

    status = {i["id"]: i["status"] for i in await issues(prioritize, limit=500)}
    links = links_of(prioritized, incident)
    kinds = kinds_of(prioritized)
    assert set(kinds) == set(accepted), "every accepted item is prioritized, whatever its kind"
    closed_ids = closed.feedback_ids("feedback.closed")
    assert all(n == 1 for n in closed_ids.values()), closed_ids
    awaiting = {
        f
        for f, issue in links.items()
        if (kinds[f] == "complaint" and status.get(issue, "resolved") != "resolved")
        or (kinds[f] == "question" and issue in still_open)
    }
    states = [set(closed_ids), awaiting]
    assert not states[0] & states[1], f"counted twice: {states[0] & states[1]}"
    assert set().union(*states) == set(accepted), {
        "lost": {f: kinds.get(f) for f in set(accepted) - set().union(*states)},
        "unknown": set().union(*states) - set(accepted),
    }
    outcome_of = {
        e["payload"]["feedback_id"]: e["payload"]["loop_outcome"]
        for e in closed.of_type("feedback.closed")
    }
    assert {f for f, issue in links.items() if issue == top["id"]} <= set(closed_ids)
    assert {outcome_of[f] for f, issue in links.items() if issue == top["id"]} == {"resolved"}
    assert {outcome_of[f] for f, k in kinds.items() if k == "praise"} <= {"thanked", "noted"}
    assert {outcome_of[f] for f, k in kinds.items() if k == "remark"} <= {"noted"}
    for one_off in (answered, incident):
        if one_off is not None:
            assert [outcome_of[f] for f, i in links.items() if i == one_off] == ["answered"]
    assert len(sinks.received("resolution")) == top["distinct_customers"]

    for source in (topics.RAW_FEEDBACK, topics.PRIORITIZED):
        dlq = await dead_letters(platform.bootstrap, platform.topic(topics.dlq_topic(source)))
        reasons = sorted(str(d["reason"]) for d in dlq)
        assert reasons == ["invalid_json"] * 3 + ["unsupported_schema_version"] * 3, (source, dlq)
        assert {d["source_topic"] for d in dlq} == {platform.topic(source)}
