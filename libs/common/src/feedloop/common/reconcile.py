"""Which events are already on a topic: lets an outbox relay resume without sending twice.

An outbox relay that crashed after the broker acknowledged a batch but before it deleted the rows
would send that batch again. Before relaying rows left over from an earlier run, the relay asks
which of their event ids are already in the topic's recent tail (from the oldest row's creation
time on, read through the `ce_id` headers only) and deletes those rows instead of sending them.
"""

import asyncio
import contextlib
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from feedloop.common import topics
from feedloop.common.kafka import client_options
from feedloop.common.settings import ServiceSettings

# Producer timestamps may trail the outbox row's creation by clock skew between hosts.
SKEW = timedelta(minutes=5)


async def events_on_topics(
    settings: ServiceSettings,
    topic_names: Iterable[str],
    *,
    since: datetime,
    candidates: Collection[str],
    limit_s: float = 60.0,
) -> set[str]:
    """Returns the candidate event ids found on the topics from `since` to their current end."""
    wanted = set(candidates)
    if not wanted:
        return set()
    found: set[str] = set()
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [
            TopicPartition(topic, partition)
            for topic in set(topic_names)
            for partition in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return found
        consumer.assign(tps)
        since_ms = int((since - SKEW).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await consumer.end_offsets(tps)
        remaining: dict[TopicPartition, int] = {}
        for tp in tps:
            start = starts.get(tp)
            if start is not None and start.offset < ends[tp]:
                consumer.seek(tp, start.offset)
                remaining[tp] = ends[tp]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while remaining and found != wanted:
            if loop.time() > deadline:
                raise TimeoutError("reading the topic tail took too long")
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    for name, value in record.headers or ():
                        if name == topics.HEADER_ID:
                            event_id = value.decode()
                            if event_id in wanted:
                                found.add(event_id)
                            break
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
        return found
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
