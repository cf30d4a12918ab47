"""Short-lived Kafka clients for the CLI, and a bounded read of one partition."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from feedloop.common.kafka import client_options
from feedloop.common.settings import ServiceSettings

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class TopicMissing(Exception):
    """A topic the command needs does not exist on the cluster."""


@asynccontextmanager
async def admin_client(settings: ServiceSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """Yields a started admin client and closes it afterwards."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def consumer(
    settings: ServiceSettings, *, group_id: str | None = None
) -> AsyncIterator[AIOKafkaConsumer]:
    """Yields a started read_committed consumer with manual commits (no subscription)."""
    options: dict[str, Any] = client_options(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
    }
    client = AIOKafkaConsumer(**options)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def topic_partitions(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, list[TopicPartition]]:
    """Returns the sorted partitions of each named topic that exists."""
    # Metadata of all topics: asking for one by name could auto-create it on some clusters.
    found = {
        t["topic"]: sorted(p["partition"] for p in t["partitions"])
        for t in await admin.describe_topics()
        if not t["error_code"]
    }
    return {name: [TopicPartition(name, n) for n in found[name]] for name in names if name in found}


async def partitions_of(admin: AIOKafkaAdminClient, *names: str) -> list[TopicPartition]:
    """Returns the partitions of the topics; raises TopicMissing when one does not exist."""
    found = await topic_partitions(admin, names)
    for name in names:
        if name not in found:
            raise TopicMissing(name)
    return [tp for name in names for tp in found[name]]


async def offset_range(
    client: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Returns the first and the end (last stable) offsets of the partitions."""
    if not tps:
        return {}, {}
    client.assign(list(tps))  # makes the client fetch their metadata now, not after a backoff
    return await client.beginning_offsets(tps), await client.end_offsets(tps)


async def read_partition(
    client: AIOKafkaConsumer,
    tp: TopicPartition,
    *,
    start: int,
    end: int,
    timeout_s: float = 30.0,
) -> AsyncGenerator[Record, None]:
    """Yields the records of one partition from `start` up to (excluding) `end`."""
    if start >= end:
        return
    client.assign([tp])
    client.seek(tp, start)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Transaction markers take offsets too, so stop on the position, not on a record count.
    while await client.position(tp) < end:
        if loop.time() > deadline:
            raise TimeoutError(f"{tp.topic}[{tp.partition}] not read up to {end} in {timeout_s}s")
        batch = await client.getmany(tp, timeout_ms=500)
        for record in batch.get(tp, ()):
            if record.offset >= end:
                return
            yield record
