"""Reading topics back and counting events by id: the proof of no loss and no doubles."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from feedloop.common import topics
from feedloop.common.codec import header

from tests.support.kafka import Record, read_topic

T = TypeVar("T")


@dataclass
class Ledger:
    """The events on one topic, decoded, with their ids counted."""

    topic: str
    records: list[Record]
    events: list[dict[str, Any]] = field(default_factory=list)
    unreadable: int = 0

    def __post_init__(self) -> None:
        for r in self.records:
            try:
                event = orjson.loads(r.value)
            except orjson.JSONDecodeError:
                self.unreadable += 1  # poison a test wrote on purpose
                continue
            if event.get("schema_version") == 1:
                self.events.append(event)
            else:
                self.unreadable += 1

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """The events of one type."""
        return [e for e in self.events if e["event_type"] == event_type]

    def repeated_ids(self) -> dict[str, int]:
        """Event ids seen more than once, with their counts."""
        counts = Counter(e["event_id"] for e in self.events)
        return {event_id: n for event_id, n in counts.items() if n > 1}

    def feedback_ids(self, event_type: str) -> Counter[str]:
        """How often each feedback id appears in events of one type."""
        return Counter(feedback_id_of(e) for e in self.of_type(event_type))


def feedback_id_of(event: dict[str, Any]) -> str:
    """The feedback id an event is about."""
    payload = event["payload"]
    if "feedback_id" in payload:
        return str(payload["feedback_id"])
    return str(payload["feedback"]["feedback_id"])


async def read(bootstrap: str, topic: str, *, timeout_s: float = 60, idle_s: float = 1.0) -> Ledger:
    """Reads a topic (read_committed) into a ledger: all of it once idle, or what timeout_s got."""
    return Ledger(topic, await read_topic(bootstrap, topic, timeout_s=timeout_s, idle_s=idle_s))


async def dead_letters(bootstrap: str, topic: str) -> list[dict[str, str | None]]:
    """The records of a dead-letter topic as their dlq_* headers (and the record key)."""
    records = await read_topic(bootstrap, topic, timeout_s=30, idle_s=1.0)
    return [
        {
            "reason": header(r.headers, topics.HEADER_DLQ_REASON),
            "error": header(r.headers, topics.HEADER_DLQ_ERROR),
            "source_topic": header(r.headers, topics.HEADER_DLQ_SOURCE_TOPIC),
            "source_partition": header(r.headers, topics.HEADER_DLQ_SOURCE_PARTITION),
            "source_offset": header(r.headers, topics.HEADER_DLQ_SOURCE_OFFSET),
            "key": r.key.decode() if r.key else None,
            "value": r.value.decode(errors="replace") if r.value else None,
        }
        for r in records
    ]
