"""Reads feedloop's `closed` topic as a downstream team would: a plain Kafka client (aiokafka)
and the CloudEvents SDK, nothing of feedloop's own code.

    pip install aiokafka cloudevents
    python docs/examples/consume_closed.py --bootstrap localhost:9092 --group my-team-closed

Prints one JSON line per feedback item closed. What it shows (docs/consuming.md):

- each record is a CloudEvent in Kafka binary mode: attributes in ce_* headers, the feedloop
  envelope as the JSON value;
- delivery is at least once, so repeats are dropped by the event id (ce_id == event_id);
- offsets are committed only after the records were handled (a crash replays, never skips);
- records of one issue (the key) arrive in order; nothing is ordered across issues;
- an event type or schema version this consumer does not know is skipped, never fatal.
"""

import argparse
import asyncio
import json
import sys
from collections import OrderedDict
from typing import Any

from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

EVENT_TYPE = "feedback.closed"
SCHEMA_VERSIONS = {"1"}  # the versions this consumer was written against


class SeenIds:
    """The last `size` event ids handled: a repeat within them is dropped.

    In production keep them where the effect is stored (a unique key on event_id in the same
    transaction), so a repeat after a restart is dropped too.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time an id is seen; remembers it."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def closure(headers: list[tuple[str, bytes]], key: bytes | None, value: bytes) -> dict[str, Any]:
    """Decodes one record with the CloudEvents SDK; returns what this consumer needs."""
    event = from_binary(KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat())
    envelope = event.get_data()
    assert isinstance(envelope, dict)
    payload = envelope["payload"]
    return {
        "event_id": event.get_id(),
        "issue_id": payload["issue_id"],
        "feedback_id": payload["feedback_id"],
        "outcome": payload["outcome"],
        "channel": payload["channel"],
        "time_to_close_seconds": payload["time_to_close_seconds"],
        "closed_at": payload["closed_at"],
        "correlation_id": event.get_extension("correlationid"),
    }


async def consume(
    bootstrap: str, topic: str, group: str, *, idle_s: float | None, earliest: bool
) -> int:
    """Prints every new closure until stopped (or until `idle_s` passes with no record)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,  # commit after handling: at least once
        auto_offset_reset="earliest" if earliest else "latest",
    )
    seen = SeenIds()
    printed = 0
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches:
                if idle_s is not None:
                    idle_s -= 1.0
                    if idle_s <= 0:
                        return printed
                continue
            for records in batches.values():  # one partition each, in offset order
                for record in records:
                    headers = [(k, v) for k, v in record.headers if v is not None]
                    kind = dict(headers).get("ce_type", b"").decode()
                    version = dict(headers).get("ce_schemaversion", b"").decode()
                    if kind != EVENT_TYPE or version not in SCHEMA_VERSIONS:
                        continue  # another type or a newer version: not ours to read
                    event = closure(headers, record.key, record.value or b"")
                    if seen.first_time(event["event_id"]):
                        print(json.dumps(event), flush=True)
                        printed += 1
            await consumer.commit()
    finally:
        await consumer.stop()


def main() -> None:
    """Parses the command line and consumes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="closed")
    parser.add_argument("--group", default="example-closed-reader")
    parser.add_argument("--from-beginning", action="store_true", help="a new group starts at 0")
    parser.add_argument("--idle-exit", type=float, default=None, help="stop after N idle seconds")
    args = parser.parse_args()
    count = asyncio.run(
        consume(
            args.bootstrap,
            args.topic,
            args.group,
            idle_s=args.idle_exit,
            earliest=args.from_beginning,
        )
    )
    print(f"{count} closures", file=sys.stderr)


if __name__ == "__main__":
    main()
