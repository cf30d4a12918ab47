"""Replaying dead letters into their source topic, with a cursor kept in a consumer group."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.cli.dlq import check_dlq_name, reason_of, replay_count
from feedloop.cli.kafka import (
    Record,
    admin_client,
    consumer,
    offset_range,
    partitions_of,
    read_partition,
)
from feedloop.common import topics
from feedloop.common.codec import Headers, header
from feedloop.common.kafka import create_producer
from feedloop.common.settings import ServiceSettings

DEFAULT_GROUP = "feedloop-dlq-replayer"
MAX_REPLAYS = 3
NOTIFY_RESEND_HINT = (
    "notifications.dlq holds customer notifications whose delivery failed after their retries; "
    "they have no source topic to replay into. Once the webhook receiver or SMTP server is back, "
    "resend them through the notify API's resend endpoint (see the notify service's OpenAPI "
    "docs, e.g. http://127.0.0.1:8004/docs)."
)


class ReplayUnsupported(Exception):
    """This dead-letter topic cannot be replayed into Kafka."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """One record sent (or, in a dry run, to be sent) back to its source topic."""

    partition: int
    offset: int
    key: str | None
    reason: str
    target: str
    replay_count: int


@dataclass(frozen=True, slots=True)
class Refused:
    """One record left in the dead-letter topic, and why."""

    partition: int
    offset: int
    why: str


@dataclass(slots=True)
class ReplayReport:
    """What a replay run did: replayed, refused, skipped (other reasons), and the new cursor."""

    topic: str
    group: str
    dry_run: bool
    replayed: list[Replayed] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    skipped: int = 0
    cursor: dict[int, int] = field(default_factory=dict)


def cursor_group(group: str | None, reason: str | None) -> str:
    """Returns the group that keeps the cursor: one per reason filter, so filters never hide."""
    if group:
        return group
    return f"{DEFAULT_GROUP}.{reason}" if reason else DEFAULT_GROUP


def replay_headers(record: Record, count: int) -> Headers:
    """Returns the original headers without dlq_* ones, plus the new dlq_replay_count."""
    kept = [(k, v) for k, v in record.headers or () if not k.startswith("dlq_")]
    return [*kept, (topics.HEADER_DLQ_REPLAY_COUNT, str(count).encode())]


@asynccontextmanager
async def _producer(
    settings: ServiceSettings, *, dry_run: bool
) -> AsyncIterator[AIOKafkaProducer | None]:
    if dry_run:
        yield None
        return
    producer = create_producer(settings)  # idempotent, acks=all
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def replay_dead_letters(
    *,
    settings: ServiceSettings,
    name: str,
    reason: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    group: str | None = None,
    force: bool = False,
    start: tuple[int, int] | None = None,
) -> ReplayReport:
    """Re-produces dead letters past the group's cursor into their source topic, then commits."""
    if check_dlq_name(name) == topics.NOTIFICATIONS_DLQ:
        raise ReplayUnsupported(NOTIFY_RESEND_HINT)
    report = ReplayReport(settings.topic(name), cursor_group(group, reason), dry_run)
    source = settings.topic(name.removesuffix(".dlq"))
    async with (
        admin_client(settings) as admin,
        consumer(settings, group_id=report.group) as reader,
        _producer(settings, dry_run=dry_run) as producer,
    ):
        tps = await partitions_of(admin, report.topic)
        if start is not None:
            tps = [tp for tp in tps if tp.partition == start[0]]
        begins, ends = await offset_range(reader, tps)
        for tp in tps:
            if limit is not None and len(report.replayed) >= limit:
                break
            cursor = start[1] if start is not None else await reader.committed(tp)
            first = max(begins[tp], cursor or 0)
            done_up_to, sends = first, []
            async with aclosing(read_partition(reader, tp, start=first, end=ends[tp])) as records:
                async for record in records:
                    if limit is not None and len(report.replayed) >= limit:
                        break
                    done_up_to = record.offset + 1
                    if reason is not None and reason_of(record) != reason:
                        report.skipped += 1
                        continue
                    item = _judge(record, source=source, force=force)
                    if isinstance(item, Refused):
                        report.refused.append(item)
                        continue
                    report.replayed.append(item)
                    if producer is not None:
                        sends.append(await _send(producer, record, item))
                else:
                    done_up_to = ends[tp]  # read to the end: transaction markers included
            await asyncio.gather(*sends)  # every replayed record acknowledged before the commit
            if not dry_run and start is None and done_up_to > (cursor or 0):
                await reader.commit({tp: done_up_to})
                report.cursor[tp.partition] = done_up_to
    return report


def _judge(record: Record, *, source: str, force: bool) -> Replayed | Refused:
    count = replay_count(record)
    target = header(record.headers, topics.HEADER_DLQ_SOURCE_TOPIC) or source
    if target != source:
        return Refused(record.partition, record.offset, f"source topic {target!r} is not {source}")
    if count >= MAX_REPLAYS and not force:
        why = f"replayed {count} times already (limit {MAX_REPLAYS}; --force to replay anyway)"
        return Refused(record.partition, record.offset, why)
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return Replayed(record.partition, record.offset, key, reason_of(record), target, count + 1)


async def _send(producer: AIOKafkaProducer, record: Record, item: Replayed) -> Any:
    return await producer.send(
        item.target,
        value=record.value,
        key=record.key,
        headers=replay_headers(record, item.replay_count),
    )
