"""Two enrich instances share raw-feedback: scaling 1 -> 2 -> 1 loses and doubles nothing."""

import asyncio
import contextlib
from collections import Counter

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics

from tests.support.clients import AppClient
from tests.support.kafka import read_topic

from .factory import TEXTS, received, record

pytestmark = pytest.mark.kafka
TOTAL = 240


async def produce_steadily(producer: AIOKafkaProducer, prefix: str, start: int, end: int) -> None:
    """Writes items start..end-1 in small acknowledged bursts, many customers (partitions)."""
    for i in range(start, end):
        envelope = received(f"scale-{i}", TEXTS[i % len(TEXTS)], customer=f"c-{i % 17}")
        r = record(envelope, prefix=prefix)
        await (await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers))
        if i % 10 == 0:
            await asyncio.sleep(0.05)


async def count_enriched(bootstrap: str, topic: str, at_least: int) -> int:
    """Waits until the topic holds at least `at_least` committed records; returns the count."""
    records = await read_topic(bootstrap, topic, until=lambda rs: len(rs) >= at_least, timeout_s=60)
    return len(records)


async def test_scaling_from_one_to_two_instances_and_back_loses_and_duplicates_nothing(
    app_client: AppClient, raw_producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    enriched_topic = topic_prefix + topics.ENRICHED
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app_client(kafka_client_id="enrich-a"))
        await produce_steadily(raw_producer, topic_prefix, 0, 80)
        assert await count_enriched(kafka_bootstrap, enriched_topic, 20) >= 20
        # A second instance joins mid-stream: the group rebalances over the 3 partitions.
        second = contextlib.AsyncExitStack()
        client_b = await second.enter_async_context(app_client(kafka_client_id="enrich-b"))
        await produce_steadily(raw_producer, topic_prefix, 80, 160)
        assert await count_enriched(kafka_bootstrap, enriched_topic, 100) >= 100
        consumer_b = client_b.app.state.consumer  # type: ignore[attr-defined]
        for _ in range(100):
            if consumer_b.batches:
                break
            await asyncio.sleep(0.1)
        assert consumer_b.batches > 0, "the second instance never got a partition"
        # It leaves again while records keep arriving: its partitions go back to the first.
        await asyncio.gather(
            second.aclose(), produce_steadily(raw_producer, topic_prefix, 160, TOTAL)
        )
        assert await count_enriched(kafka_bootstrap, enriched_topic, TOTAL) >= TOTAL
        await asyncio.sleep(2.0)
    records = await read_topic(kafka_bootstrap, enriched_topic, idle_s=1.0)
    events = [orjson.loads(r.value) for r in records if r.value is not None]
    per_id = Counter(e["event_id"] for e in events)
    assert [i for i, n in per_id.items() if n > 1] == []
    ids = {e["payload"]["item"]["external_id"] for e in events}
    assert ids == {f"scale-{i}" for i in range(TOTAL)}
    assert len(events) == TOTAL
