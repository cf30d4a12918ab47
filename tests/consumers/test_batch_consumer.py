"""The batch loop on the real broker: one bad record is dead-lettered alone, faults retried."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.consumer import BatchConsumer
from feedloop.common.health import health_router
from feedloop.common.kafka import Emitter, Record, create_consumer, create_producer
from feedloop.common.settings import ConsumerSettings

from tests.support.kafka import read_topic
from tests.support.polling import eventually


def settings_for(bootstrap: str, prefix: str) -> ConsumerSettings:
    """Consumer settings of a throwaway group."""
    return ConsumerSettings(
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=prefix,
        consumer_group=f"test-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
    )


class Store:
    """A handler that keeps a batch only when all of it succeeds, as a DB transaction does."""

    def __init__(self, *, poison: bytes = b"boom", transient_failures: int = 0) -> None:
        self.kept: list[bytes] = []
        self.poison = poison
        self.transient_failures = transient_failures
        self.calls = 0

    async def __call__(self, records: Sequence[Record], emitter: Emitter) -> None:
        self.calls += 1
        if self.transient_failures:
            self.transient_failures -= 1
            raise ConnectionError("database unreachable")
        values = [r.value or b"" for r in records]
        if self.poison in values:
            raise ValueError("value too long for type character varying(35)")
        self.kept += values


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """The producer a consumer sends its dead letters with."""
    created = create_producer(ConsumerSettings(kafka_bootstrap_servers=kafka_bootstrap))
    await created.start()
    yield created
    await created.stop()


async def test_a_record_that_fails_its_handler_is_dead_lettered_alone_and_the_rest_kept(
    kafka_bootstrap: str,
    topic_prefix: str,
    raw_producer: AIOKafkaProducer,
    producer: AIOKafkaProducer,
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    topic = settings.topic(topics.PRIORITIZED)
    values = [f"r{i}".encode() for i in range(40)]
    values[23] = b"boom"
    for value in values:
        await raw_producer.send_and_wait(topic, value, partition=0)
    store = Store()
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[topic],
        handler=store,
        service="test",
        group_id=settings.consumer_group,
        producer=producer,
    )
    await consumer.start()
    try:
        await eventually(lambda: len(store.kept) == 39)
        dead = await read_topic(kafka_bootstrap, topics.dlq_topic(topic), until=bool)
    finally:
        await consumer.stop()
    assert sorted(store.kept) == sorted(v for v in values if v != b"boom")
    assert [d.value for d in dead] == [b"boom"]
    assert header(dead[0].headers, topics.HEADER_DLQ_REASON) == "processing_error"
    assert "character varying(35)" in (header(dead[0].headers, topics.HEADER_DLQ_ERROR) or "")
    assert header(dead[0].headers, topics.HEADER_DLQ_SOURCE_OFFSET) == "23"


async def test_a_transient_fault_retries_the_batch_and_dead_letters_nothing(
    kafka_bootstrap: str,
    topic_prefix: str,
    raw_producer: AIOKafkaProducer,
    producer: AIOKafkaProducer,
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    topic = settings.topic(topics.PRIORITIZED)
    for i in range(10):
        await raw_producer.send_and_wait(topic, f"r{i}".encode(), partition=1)
    store = Store(transient_failures=2)
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[topic],
        handler=store,
        service="test",
        group_id=settings.consumer_group,
        producer=producer,
    )
    await consumer.start()
    try:
        await eventually(lambda: len(store.kept) == 10)
    finally:
        await consumer.stop()
    assert store.calls >= 3
    assert await read_topic(kafka_bootstrap, topics.dlq_topic(topic), idle_s=1.0) == []


async def test_a_consumer_loop_that_died_fails_liveness(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    app = FastAPI()
    app.include_router(health_router({}))
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[settings.topic(topics.PRIORITIZED)],
        handler=Store(),
        service="test",
        group_id=settings.consumer_group,
        producer=producer,
    )
    await consumer.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert consumer._task is not None
            consumer._task.cancel()  # what an unexpected BaseException does to the loop
            await asyncio.sleep(0.1)
            dead = await client.get("/healthz")
            assert dead.status_code == 503
            assert "test consumer" in dead.json()["dead"]
    finally:
        await consumer.stop()
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200  # stopped on purpose


@pytest.mark.parametrize("transactional", [False, True], ids=["db-commit", "kafka-transaction"])
async def test_committed_offsets_reach_the_end_of_a_transactional_topic(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer, transactional: bool
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    topic = settings.topic(topics.ENRICHED)
    writer = create_producer(settings, transactional_id=f"test-{uuid.uuid4().hex[:8]}")
    await writer.start()
    try:
        for batch in range(3):
            async with writer.transaction():
                for i in range(5):
                    await writer.send(topic, f"b{batch}-{i}".encode(), partition=i % 3)
    finally:
        await writer.stop()
    store = Store()
    # Kafka in, Kafka out (enrich's way): offsets travel in the consumer's own transactions.
    own = create_producer(settings, transactional_id=f"test-{uuid.uuid4().hex[:8]}")
    await own.start()
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[topic],
        handler=store,
        service="test",
        group_id=settings.consumer_group,
        producer=own if transactional else producer,
        transactional=transactional,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(3)]
    try:
        await eventually(lambda: len(store.kept) == 15)
        ends = await consumer.consumer.end_offsets(tps)

        async def committed() -> dict[TopicPartition, int | None]:
            return {tp: await consumer.consumer.committed(tp) for tp in tps}

        for _ in range(100):
            if await committed() == ends:
                break
            await asyncio.sleep(0.2)
        assert await committed() == ends  # past each commit marker: lag 0
    finally:
        await consumer.stop()
        await own.stop()
