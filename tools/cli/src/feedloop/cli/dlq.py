"""Reading dead-letter topics: counts by reason, and records decoded for people."""

import json
from collections import Counter
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from feedloop.cli.kafka import (
    Record,
    admin_client,
    consumer,
    offset_range,
    partitions_of,
    read_partition,
)
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.settings import ServiceSettings

DLQ_HEADERS = (
    topics.HEADER_DLQ_REASON,
    topics.HEADER_DLQ_ERROR,
    topics.HEADER_DLQ_SOURCE_TOPIC,
    topics.HEADER_DLQ_SOURCE_PARTITION,
    topics.HEADER_DLQ_SOURCE_OFFSET,
    topics.HEADER_DLQ_CONSUMER_GROUP,
    topics.HEADER_DLQ_FAILED_AT,
    topics.HEADER_DLQ_REPLAY_COUNT,
)
UNKNOWN_REASON = "(none)"
REPR_LIMIT = 300


class UnknownDeadLetterTopic(ValueError):
    """The name is not one of topics.DLQ_TOPICS."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} is not a dead-letter topic; one of {', '.join(topics.DLQ_TOPICS)}"
        )


def check_dlq_name(name: str) -> str:
    """Returns the logical DLQ name, or raises UnknownDeadLetterTopic."""
    if name not in topics.DLQ_TOPICS:
        raise UnknownDeadLetterTopic(name)
    return name


@dataclass(slots=True)
class DeadLetterCount:
    """How many records a dead-letter topic holds, in total and per dlq_reason."""

    topic: str
    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


async def count_dead_letters(
    *, settings: ServiceSettings, names: tuple[str, ...]
) -> list[DeadLetterCount]:
    """Reads each dead-letter topic once and counts its records by reason."""
    physical = [settings.topic(name) for name in names]
    results = [DeadLetterCount(name) for name in names]
    async with admin_client(settings) as admin, consumer(settings) as reader:
        tps = await partitions_of(admin, *physical)
        begins, ends = await offset_range(reader, tps)
        reasons: dict[str, Counter[str]] = {topic: Counter() for topic in physical}
        for tp in tps:
            async for record in read_partition(reader, tp, start=begins[tp], end=ends[tp]):
                reasons[tp.topic][reason_of(record)] += 1
    for result, topic in zip(results, physical, strict=True):
        result.total = reasons[topic].total()
        result.by_reason = dict(reasons[topic].most_common())
    return results


async def read_dead_letters(
    *,
    settings: ServiceSettings,
    name: str,
    limit: int,
    start: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Returns up to `limit` records, partition by partition, or from (partition, offset)."""
    found: list[dict[str, Any]] = []
    if limit <= 0:
        return found
    async with admin_client(settings) as admin, consumer(settings) as reader:
        tps = await partitions_of(admin, settings.topic(name))
        if start is not None:
            tps = [tp for tp in tps if tp.partition == start[0]]
        begins, ends = await offset_range(reader, tps)
        for tp in tps:
            first = max(begins[tp], start[1]) if start is not None else begins[tp]
            async with aclosing(read_partition(reader, tp, start=first, end=ends[tp])) as records:
                async for record in records:
                    found.append(describe(record))
                    if len(found) >= limit:
                        return found
    return found


def reason_of(record: Record) -> str:
    """Returns a record's dlq_reason header, or '(none)'."""
    return header(record.headers, topics.HEADER_DLQ_REASON) or UNKNOWN_REASON


def replay_count(record: Record) -> int:
    """Returns how often a record was replayed already (dlq_replay_count, 0 if absent)."""
    text = header(record.headers, topics.HEADER_DLQ_REPLAY_COUNT)
    return int(text) if text and text.strip().isdigit() else 0


def describe(record: Record) -> dict[str, Any]:
    """Returns a record as plain data: position, key, dlq headers, other headers and value."""
    headers = list(record.headers or ())
    value, is_json = decode_value(record.value)
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "dlq": {name: header(headers, name) for name in DLQ_HEADERS},
        "headers": {
            k: v.decode("utf-8", "replace") if v is not None else None
            for k, v in headers
            if not k.startswith("dlq_")
        },
        "value": value,
        "value_is_json": is_json,
    }


def decode_value(value: bytes | None) -> tuple[Any, bool]:
    """Returns (parsed JSON, True), or (a truncated repr, False) when it is not JSON."""
    if value is None:
        return None, False
    try:
        return json.loads(value), True
    except (ValueError, UnicodeDecodeError):
        text = repr(value[:REPR_LIMIT])
        return (text + f"... ({len(value)} bytes)" if len(value) > REPR_LIMIT else text), False
