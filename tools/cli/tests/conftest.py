"""Helpers for CLI tests: invoking `feedloop` in-process and writing dead letters."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from feedloop.cli.app import app
from feedloop.common.codec import DeadLetterReason
from feedloop.common.dlq import dead_letter_record
from typer.testing import CliRunner, Result

Invoke = Callable[..., Awaitable[Result]]


@pytest.fixture
def cli(kafka_bootstrap: str, topic_prefix: str) -> Invoke:
    """Runs `feedloop --bootstrap ... --topic-prefix ... ARGS` in-process (in a thread: it
    calls asyncio.run itself)."""

    async def invoke(*args: str) -> Result:
        argv = ["--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix, *args]
        runner = CliRunner()
        return await asyncio.to_thread(lambda: runner.invoke(app, argv, catch_exceptions=False))

    return invoke


def as_json(result: Result) -> Any:
    """Parses a --json result, showing the output when the command failed."""
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


async def put_dead_letter(
    producer: AIOKafkaProducer,
    *,
    source: str,
    reason: DeadLetterReason,
    value: bytes = b'{"event_id": "e-1"}',
    key: bytes = b"cust-1",
    offset: int = 7,
    replays: int = 0,
) -> None:
    """Writes the dead letter a consumer would write for a record of `source` at `offset`."""
    headers = [("ce_id", b"e-1"), ("dlq_replay_count", str(replays).encode())]
    failed: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        source, 0, offset, 0, 0, key, value, None, len(key), len(value), headers
    )
    record = dead_letter_record(
        failed, reason=reason, detail=f"{reason} at {offset}", group_id="feedloop-enrich"
    )
    await producer.send_and_wait(
        record.topic, record.value, key=record.key, headers=record.headers, partition=0
    )
