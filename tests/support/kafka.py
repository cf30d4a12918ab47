"""Fixtures around the real test broker (started by `make test-kafka-up` or on demand here)."""

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeAlias

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from feedloop.common.kafka import ensure_topics, kafka_reachable
from feedloop.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def test_bootstrap() -> str:
    """Returns host:port of the test broker."""
    return os.environ.get("FEEDLOOP_TEST_KAFKA", "127.0.0.1:19092")


def broker_port() -> str:
    """Returns the test broker's port."""
    return test_bootstrap().rsplit(":", 1)[1]


def run_kafka_script(action: str) -> None:
    """Runs scripts/kafka.sh for the test broker (up, down, kill9)."""
    env = os.environ | {"KAFKA_PORT": broker_port()}
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), action], check=True, env=env)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """A running test broker; started here if `make test-kafka-up` did not."""
    bootstrap = test_bootstrap()
    if not asyncio.run(kafka_reachable(ServiceSettings(kafka_bootstrap_servers=bootstrap))):
        run_kafka_script("up")
    return bootstrap


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh prefix with every pipeline and DLQ topic created (3 partitions) for one test.

    The prefix's topics are deleted afterwards: a long-lived test broker otherwise collects
    thousands of partitions and takes many minutes to start.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=prefix),
        partitions=3,
    )
    yield prefix
    await delete_prefixed_topics(kafka_bootstrap, prefix)


async def delete_prefixed_topics(bootstrap: str, prefix: str) -> None:
    """Deletes every topic whose name starts with prefix (best effort: the broker may be down)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names, timeout_ms=10_000)
    except Exception as exc:  # cleanup must never fail a test
        print(f"could not delete the topics of {prefix}: {exc!r}")
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


Record: TypeAlias = ConsumerRecord[bytes, bytes]


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Record]], bool] | None = None,
    timeout_s: float = 20.0,
    idle_s: float = 1.5,
    read_committed: bool = True,
) -> list[Record]:
    """Reads a topic from the beginning until `until(records)` holds, or idle_s passes idle."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if read_committed else "read_uncommitted",
    )
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_new = loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for items in batch.values():
                records.extend(items)
                last_new = loop.time()
            if until is not None and until(records):
                break
            if until is None and loop.time() - last_new > idle_s:
                break
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        cluster = await consumer._client.fetch_all_metadata()
        partitions: set[int] | None = cluster.partitions_for_topic(topic)
        if partitions:
            return partitions
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} does not exist")


@pytest.fixture
async def raw_producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer for writing test records (poison records included)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()
