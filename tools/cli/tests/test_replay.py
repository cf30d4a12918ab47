"""`feedloop dlq replay` against the real broker: cursor, headers, limits, dry runs."""

import uuid

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, header

from tests.support.kafka import read_topic

from .conftest import Invoke, as_json, put_dead_letter


def fresh_group() -> str:
    return f"test-replayer-{uuid.uuid4().hex[:8]}"


async def test_replay_sends_dead_letters_back_once_with_clean_headers(
    cli: Invoke, raw_producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    raw = topic_prefix + topics.RAW_FEEDBACK
    await put_dead_letter(raw_producer, source=raw, reason=DeadLetterReason.PROCESSING_ERROR)
    await put_dead_letter(
        raw_producer, source=raw, reason=DeadLetterReason.INVALID_PAYLOAD, key=b"cust-2"
    )
    replay = ("--json", "dlq", "replay", "raw-feedback.dlq")  # default cursor group

    dry = as_json(await cli(*replay, "--dry-run"))
    assert [r["offset"] for r in dry["replayed"]] == [0, 1]
    assert await read_topic(kafka_bootstrap, raw, idle_s=0.5) == []

    first = as_json(await cli(*replay))
    assert [(r["offset"], r["replay_count"]) for r in first["replayed"]] == [(0, 1), (1, 1)]
    assert first["cursor"] == {"0": 2}
    assert first["group"] == "feedloop-dlq-replayer"
    records = await read_topic(kafka_bootstrap, raw, until=lambda r: len(r) >= 2)
    assert sorted(r.key for r in records if r.key) == [b"cust-1", b"cust-2"]
    for record in records:
        assert record.value == b'{"event_id": "e-1"}'
        assert [k for k, _ in record.headers] == ["ce_id", topics.HEADER_DLQ_REPLAY_COUNT]
        assert header(record.headers, topics.HEADER_DLQ_REPLAY_COUNT) == "1"

    again = as_json(await cli(*replay))
    assert again["replayed"] == []

    await put_dead_letter(raw_producer, source=raw, reason=DeadLetterReason.PROCESSING_ERROR)
    third = as_json(await cli(*replay))
    assert [r["offset"] for r in third["replayed"]] == [2]
    text = await cli("dlq", "replay", "--topic", "raw-feedback.dlq")
    assert "replayed 0 record(s)" in text.stdout


async def test_replay_refuses_records_replayed_three_times_unless_forced(
    cli: Invoke, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    enriched = topic_prefix + topics.ENRICHED
    reason = DeadLetterReason.PROCESSING_ERROR
    await put_dead_letter(raw_producer, source=enriched, reason=reason, replays=3)
    await put_dead_letter(raw_producer, source=enriched, reason=reason, replays=1)
    await put_dead_letter(raw_producer, source=enriched, reason=DeadLetterReason.INVALID_JSON)
    replay = ("--json", "dlq", "replay", "enriched.dlq", "--reason", "processing_error")

    refused = as_json(await cli(*replay))
    forced = as_json(await cli(*replay, "--group", fresh_group(), "--force", "--limit", "1"))

    assert [r["offset"] for r in refused["refused"]] == [0]
    assert [(r["offset"], r["replay_count"]) for r in refused["replayed"]] == [(1, 2)]
    assert refused["skipped"] == 1
    assert refused["group"] == "feedloop-dlq-replayer.processing_error"
    assert [(r["offset"], r["replay_count"]) for r in forced["replayed"]] == [(0, 4)]
    assert forced["cursor"] == {"0": 1}


async def test_replay_of_notifications_points_to_the_resend_endpoint(cli: Invoke) -> None:
    result = await cli("dlq", "replay", "notifications.dlq")
    assert result.exit_code == 2
    assert "resend" in result.stderr
