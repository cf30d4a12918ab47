"""docs/examples/consume_closed.py, run as a downstream team would, against the real broker.

Records are produced the way notify produces them (feedloop's codec), a repeat included; the
example must print each closure once, keep the order of one issue's records, and skip a schema
version it was not written for.
"""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import encode
from feedloop.common.events import Envelope, FeedbackClosed, deterministic_id

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "consume_closed.py"


def closed(feedback_id: str, issue_id: str, seconds: float) -> Envelope[FeedbackClosed]:
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    payload = FeedbackClosed(
        feedback_id=feedback_id,
        issue_id=issue_id,
        customer_id="c-1",
        channel="email",
        outcome="delivered",
        delivered_at=at,
        closed_at=at,
        time_to_close_seconds=seconds,
    )
    return Envelope.wrap(
        payload,
        event_id=deterministic_id("closed", feedback_id),
        producer="notify",
        correlation_id=f"corr-{feedback_id}",
    )


async def produce(bootstrap: str, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        first, again = closed("f-1", "i-1", 10.0), closed("f-1", "i-1", 10.0)
        records = [
            encode(first, key="i-1", prefix=prefix),
            encode(closed("f-2", "i-2", 20.0), key="i-2", prefix=prefix),
            encode(closed("f-3", "i-1", 30.0), key="i-1", prefix=prefix),
            encode(again, key="i-1", prefix=prefix),  # at least once: a repeat
        ]
        future = encode(closed("f-4", "i-2", 40.0), key="i-2", prefix=prefix)
        headers = [(k, b"2" if k == topics.HEADER_SCHEMA_VERSION else v) for k, v in future.headers]
        for record in records:
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        await producer.send_and_wait(future.topic, future.value, key=future.key, headers=headers)
    finally:
        await producer.stop()


async def test_the_example_consumer_prints_each_closure_once_in_key_order(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    await produce(kafka_bootstrap, topic_prefix)

    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            f"{topic_prefix}{topics.CLOSED}",
            "--group",
            f"{topic_prefix}example",
            "--from-beginning",
            "--idle-exit",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": ""},
        check=False,
    )

    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["feedback_id"] for p in printed if p["issue_id"] == "i-1"] == ["f-1", "f-3"]
    assert [p["feedback_id"] for p in printed if p["issue_id"] == "i-2"] == ["f-2"]
    assert len(printed) == 3  # the repeat dropped, the v2 record skipped
    (first,) = [p for p in printed if p["feedback_id"] == "f-1"]
    assert first["event_id"] == deterministic_id("closed", "f-1")
    assert first["correlation_id"] == "corr-f-1"
    assert first["outcome"] == "delivered"
    assert first["time_to_close_seconds"] == 10.0
    assert done.stderr.strip().endswith("3 closures")
