"""Prioritize under faults: kill -9 mid-batch, SIGTERM, poison records, 1 -> 2 -> 1 replicas.

`prioritized` is written through a transactional outbox whose relay reconciles with the
topic's tail on start (ARCHITECTURE.md, outbox.py): the design promises each event id on the
wire once, so these tests assert exactly that, not merely "consumers would drop repeats".
"""

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord

from tests.e2e.enriched import complaints, feedback_ids
from tests.e2e.fixtures import assert_clean_exit, consumed, send_paced
from tests.e2e.ledger import Ledger, dead_letters, read
from tests.e2e.platform import Platform
from tests.support.kafka import read_topic
from tests.support.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def prioritized_complete(platform: Platform, expected: set[str]) -> Ledger:
    """Waits until every expected feedback id is on `prioritized`; returns the topic's ledger."""
    topic = platform.topic(topics.PRIORITIZED)

    async def complete() -> bool:
        ledger = await read(platform.bootstrap, topic, timeout_s=5)
        return expected <= set(ledger.feedback_ids("feedback.prioritized"))

    await eventually(
        complete, timeout_s=90, what="every complaint on prioritized", context=platform.tails
    )
    # Settled: read it all once more, so a late duplicate would be counted too.
    await asyncio.sleep(1.0)
    return await read(platform.bootstrap, topic)


def assert_each_once(ledger: Ledger, expected: set[str]) -> None:
    """Every expected feedback linked exactly once, and no event id twice on the wire."""
    linked = ledger.feedback_ids("feedback.prioritized")
    assert set(linked) == expected, f"unexpected feedback ids: {set(linked) ^ expected}"
    doubled = {fid: n for fid, n in linked.items() if n > 1}
    assert not doubled, f"feedback linked more than once: {doubled}"
    assert not ledger.repeated_ids(), f"event ids on the wire twice: {ledger.repeated_ids()}"


async def output_reaches(platform: Platform, n: int) -> None:
    """Waits until prioritize has written at least n records (so a fault lands mid-stream)."""
    topic = platform.topic(topics.PRIORITIZED)

    async def enough() -> bool:
        records = await read_topic(
            platform.bootstrap, topic, until=lambda rs: len(rs) >= n, timeout_s=2
        )
        return len(records) >= n

    await eventually(enough, timeout_s=60, what=f"{n} outputs", context=platform.tails)


async def test_prioritize_killed_mid_batch_writes_every_event_once_after_restart(
    platform: Platform, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    records = complaints(360, run=uuid.uuid4().hex[:6], prefix=topic_prefix)
    await platform.start("prioritize")
    feeding = asyncio.create_task(send_paced(raw_producer, records, per_s=150))
    await output_reaches(platform, 40)
    platform.processes["prioritize"].kill9()
    await feeding
    await platform.restart("prioritize")
    expected = feedback_ids(records)
    assert_each_once(await prioritized_complete(platform, expected), expected)


async def test_prioritize_stops_cleanly_on_sigterm_and_resumes_without_loss_or_duplicates(
    platform: Platform, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    records = complaints(240, run=uuid.uuid4().hex[:6], prefix=topic_prefix)
    await platform.start("prioritize")
    feeding = asyncio.create_task(send_paced(raw_producer, records, per_s=150))
    await output_reaches(platform, 30)
    process = platform.processes["prioritize"]
    assert_clean_exit(platform, "prioritize", await asyncio.to_thread(process.stop))
    await feeding
    await platform.restart("prioritize")
    expected = feedback_ids(records)
    assert_each_once(await prioritized_complete(platform, expected), expected)


async def test_poison_records_on_enriched_reach_the_dlq_with_reasons_and_the_partition_flows(
    platform: Platform, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    good = complaints(6, run=uuid.uuid4().hex[:6], prefix=topic_prefix, themes=1)
    topic = topic_prefix + topics.ENRICHED
    unknown_version = orjson.loads(good[1].value) | {"schema_version": 99}
    # One key, so one partition: the good records after the poison must still get through.
    key = good[0].key
    await platform.start("prioritize")
    for r in good[:2]:
        await raw_producer.send_and_wait(topic, r.value, key=key, headers=r.headers)
    await raw_producer.send_and_wait(topic, b"{not json", key=key)
    await raw_producer.send_and_wait(topic, orjson.dumps(unknown_version), key=key)
    for r in good[2:]:
        await raw_producer.send_and_wait(topic, r.value, key=key, headers=r.headers)
    expected = feedback_ids(good)
    assert_each_once(await prioritized_complete(platform, expected), expected)
    dlq = await dead_letters(platform.bootstrap, topic_prefix + topics.dlq_topic(topics.ENRICHED))
    assert sorted(str(d["reason"]) for d in dlq) == ["invalid_json", "unsupported_schema_version"]
    assert {d["source_topic"] for d in dlq} == {topic}
    assert all(d["error"] and d["source_offset"] is not None for d in dlq), dlq
    assert {d["key"] for d in dlq} == {key.decode() if key else None}


@pytest.mark.postgres
async def test_prioritize_scaled_one_two_one_under_load_links_every_complaint_once(
    platform: Platform, raw_producer: AIOKafkaProducer, topic_prefix: str, postgres_url: str
) -> None:
    platform.extra_env["prioritize"] = {"FEEDLOOP_PRIORITIZE_DATABASE_URL": postgres_url}
    # Paced at 50/s until the second replica has left (then one more second): a replica takes
    # seconds to start on a busy machine, and it must find work left when it joins and leaves.
    pool = complaints(6000, run=uuid.uuid4().hex[:6], prefix=topic_prefix)
    records: list[OutgoingRecord] = []
    scaled_in = asyncio.Event()

    async def feed() -> None:
        for start in range(0, len(pool), 50):
            chunk = pool[start : start + 50]
            await send_paced(raw_producer, chunk, per_s=50)
            records.extend(chunk)
            if scaled_in.is_set():
                return

    await platform.start("prioritize")
    feeding = asyncio.create_task(feed())
    await output_reaches(platform, 10)
    second = await platform.add_replica("prioritize")
    second_worked = await eventually(
        lambda: consumed(second.metrics_url, "prioritize"),
        timeout_s=30,
        what="the second replica consuming",
        context=platform.tails,
    )
    assert not feeding.done(), "the load (120 s) ended before the scale-in"
    assert_clean_exit(platform, second.name, await asyncio.to_thread(second.stop))
    scaled_in.set()
    await feeding
    expected = feedback_ids(records)
    assert_each_once(await prioritized_complete(platform, expected), expected)
    assert second_worked > 0
