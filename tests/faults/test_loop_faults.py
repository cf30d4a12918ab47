"""Enrich and notify killed (-9) or stopped (SIGTERM) mid-stream, then restarted.

enrich: transactional produce with the input offsets, read_committed readers, dedup by event
id; so on `enriched` each feedback appears once, and no event id twice (ARCHITECTURE.md).
notify: `closed` comes from an outbox with reconciliation, so each event id once there; the
customer's message may be re-sent after a crash between send and record, under the same
idempotency key (receivers drop repeats by it): so each customer holds one message per key.
"""

import asyncio
import signal
import uuid

import httpx
import pytest
from feedloop.common import topics

from scripts.demo.story import Voice, before
from tests.e2e.fixtures import assert_clean_exit, consumed, needs
from tests.e2e.ledger import Ledger, read
from tests.e2e.platform import Platform
from tests.e2e.story import API_KEY, issues, post_voices, wait_stored
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import Sinks, running_sinks

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def interrupt(platform: Platform, name: str, how: str) -> None:
    """kill -9, or SIGTERM and a clean exit; then the same process started again."""
    process = platform.processes[name]
    if how == "kill9":
        process.kill9()
        assert process.popen is not None and process.popen.returncode == -signal.SIGKILL
    else:
        assert_clean_exit(platform, name, await asyncio.to_thread(process.stop))
    await platform.restart(name)


async def records_reach(platform: Platform, topic: str, n: int) -> None:
    """Waits until a topic holds n records (read_committed)."""

    async def enough() -> bool:
        got = await read_topic(
            platform.bootstrap, platform.topic(topic), until=lambda rs: len(rs) >= n, timeout_s=2
        )
        return len(got) >= n

    await eventually(enough, timeout_s=60, what=f"{n} records on {topic}", context=platform.tails)


@needs("enrich")
@pytest.mark.parametrize("how", ["kill9", "sigterm"])
async def test_enrich_interrupted_mid_batch_enriches_every_item_exactly_once(
    platform: Platform, how: str
) -> None:
    await platform.start("ingest", "enrich")
    voices = before(uuid.uuid4().hex[:6], 240)
    accepted = await post_voices(platform.processes["ingest"].url, voices)
    await records_reach(platform, topics.ENRICHED, 20)
    await interrupt(platform, "enrich", how)

    async def complete() -> Ledger | None:
        ledger = await read(platform.bootstrap, platform.topic(topics.ENRICHED), timeout_s=5)
        return ledger if set(ledger.feedback_ids("feedback.enriched")) >= set(accepted) else None

    await eventually(complete, timeout_s=120, what="all enriched", context=platform.tails)
    enriched = await read(platform.bootstrap, platform.topic(topics.ENRICHED))
    assert enriched.feedback_ids("feedback.enriched") == dict.fromkeys(accepted, 1)
    assert not enriched.repeated_ids()
    assert "partitions assigned" in platform.tail("enrich", 200), "the restart took no work"


async def _resolve_top(prioritize: str) -> dict[str, object]:
    top = (await issues(prioritize))[0]
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}) as client:
        response = await client.patch(
            f"{prioritize}/v1/issues/{top['id']}",
            json={"status": "resolved", "resolution_message": "Size charts updated."},
        )
    assert response.status_code == 200, response.text
    return top


@needs("enrich", "notify")
@pytest.mark.parametrize("how", ["kill9", "sigterm"])
async def test_notify_interrupted_during_intake_and_sending_tells_each_customer_once(
    platform: Platform, how: str
) -> None:
    sinks: Sinks
    async with running_sinks() as sinks:
        # A kill -9 mid-send leaves the deliveries it had claimed leased until the lease runs out
        # (120 s by default), then another claim retries them: a lease just above the SMTP
        # timeout (30 s) keeps that wait inside this test's bounds.
        platform.extra_env["notify"] = sinks.notify_env() | {"FEEDLOOP_NOTIFY_LEASE_S": "40"}
        await platform.start()
        ingest, prioritize = platform.processes["ingest"].url, platform.processes["prioritize"].url
        voices = before(uuid.uuid4().hex[:6], 60, seed=5)
        await post_voices(ingest, voices)
        await records_reach(platform, topics.PRIORITIZED, 10)
        await interrupt(platform, "notify", how)  # while it takes in `prioritized`
        await wait_stored(
            prioritize, len(voices), timeout_s=120, what="all stored", context=platform.tails
        )
        top = await _resolve_top(prioritize)
        await eventually(
            lambda: _told_at_least(sinks, 1),
            timeout_s=60,
            what="first message",
            context=platform.tails,
        )
        await interrupt(platform, "notify", how)  # while it sends

        async def everyone() -> bool:
            return len(sinks.received("resolution")) >= int(str(top["distinct_customers"]))

        await eventually(everyone, timeout_s=90, what="everyone told", context=platform.tails)
        await eventually(
            lambda: _all_closed(platform, top),
            timeout_s=90,
            what="the resolved issue's items, praise and remarks closed",
            context=platform.tails,
        )
        await asyncio.sleep(3)

    told = sinks.received("resolution")
    assert len(told) == top["distinct_customers"] and set(told.values()) == {1}, told
    resent = {c: n for c, n in sinks.deliveries("resolution").items() if n > 1}
    print(f"{how}: deliveries repeated under the same key: {resent}")
    thanked = sinks.received("thanks")
    assert set(thanked.values()) <= {1}, f"a customer thanked twice: {thanked}"
    closed = await read(platform.bootstrap, platform.topic(topics.CLOSED))
    assert not closed.repeated_ids(), closed.repeated_ids()
    ids = closed.feedback_ids("feedback.closed")
    assert set(ids.values()) == {1}, ids
    kinds, members = await _kinds(platform, str(top["id"]))
    outcomes = {
        e["payload"]["feedback_id"]: e["payload"]["loop_outcome"]
        for e in closed.of_type("feedback.closed")
    }
    assert len(members) == top["feedback_count"]
    allowed = {"complaint": {"resolved"}, "praise": {"thanked", "noted"}, "remark": {"noted"}}
    for feedback_id, kind in kinds.items():
        if kind == "complaint" and feedback_id not in members:
            assert feedback_id not in outcomes, "closed while its issue is open"
            continue
        assert outcomes[feedback_id] in allowed[kind], (feedback_id, kind, outcomes[feedback_id])
    assert sum(1 for o in outcomes.values() if o == "thanked") == len(thanked)


async def _kinds(platform: Platform, issue_id: str) -> tuple[dict[str, str], set[str]]:
    """Each prioritized item's kind, and the items linked to one issue."""
    prioritized = await read(platform.bootstrap, platform.topic(topics.PRIORITIZED))
    events = prioritized.of_type("feedback.prioritized")
    kinds = {
        e["payload"]["feedback"]["feedback_id"]: e["payload"].get("kind") or "complaint"
        for e in events
    }
    members = {
        e["payload"]["feedback"]["feedback_id"]
        for e in events
        if e["payload"]["issue_id"] == issue_id
    }
    return kinds, members


async def _all_closed(platform: Platform, top: dict[str, object]) -> bool:
    kinds, members = await _kinds(platform, str(top["id"]))
    closed = await read(platform.bootstrap, platform.topic(topics.CLOSED), timeout_s=5)
    due = members | {f for f, k in kinds.items() if k in ("praise", "remark")}
    return due <= set(closed.feedback_ids("feedback.closed"))


async def _told_at_least(sinks: Sinks, n: int) -> bool:
    return len(sinks.received("resolution")) >= n


@needs("enrich")
async def test_enrich_scaled_one_two_one_under_load_enriches_every_item_exactly_once(
    platform: Platform,
) -> None:
    await platform.start("ingest", "enrich")
    voices = before(uuid.uuid4().hex[:6], 600, seed=9)
    ingest = platform.processes["ingest"].url
    # Paced (~40 items/s for ~15 s): enrich drains faster than that, so the load must still be
    # arriving when the second replica joins and when it leaves.
    posting = asyncio.create_task(_post_paced(ingest, voices, per_batch=10, every_s=0.25))
    await records_reach(platform, topics.ENRICHED, 20)
    second = await platform.add_replica("enrich")
    worked = await eventually(
        lambda: consumed(second.metrics_url, "enrich"),
        timeout_s=30,
        what="the second replica enriching",
        context=platform.tails,
    )
    assert not posting.done(), "the load ended before the scale-in; pace it longer"
    assert_clean_exit(platform, second.name, await asyncio.to_thread(second.stop))
    accepted = await posting

    async def complete() -> bool:
        ledger = await read(platform.bootstrap, platform.topic(topics.ENRICHED), timeout_s=5)
        return set(ledger.feedback_ids("feedback.enriched")) >= set(accepted)

    await eventually(complete, timeout_s=120, what="all enriched", context=platform.tails)
    enriched = await read(platform.bootstrap, platform.topic(topics.ENRICHED))
    assert enriched.feedback_ids("feedback.enriched") == dict.fromkeys(accepted, 1)
    assert not enriched.repeated_ids()
    assert worked > 0


async def _post_paced(
    ingest: str, voices: list[Voice], *, per_batch: int, every_s: float
) -> dict[str, str]:
    accepted: dict[str, str] = {}
    for start in range(0, len(voices), per_batch):
        accepted |= await post_voices(ingest, voices[start : start + per_batch])
        await asyncio.sleep(every_s)
    return accepted
