"""`feedloop dlq list|show` against the real broker."""

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason

from .conftest import Invoke, as_json, put_dead_letter


async def test_list_counts_dead_letters_per_topic_and_reason(
    cli: Invoke, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    raw, enriched = topic_prefix + topics.RAW_FEEDBACK, topic_prefix + topics.ENRICHED
    for offset in (1, 2):
        await put_dead_letter(
            raw_producer, source=raw, reason=DeadLetterReason.INVALID_JSON, offset=offset
        )
    await put_dead_letter(raw_producer, source=raw, reason=DeadLetterReason.PROCESSING_ERROR)
    await put_dead_letter(raw_producer, source=enriched, reason=DeadLetterReason.INVALID_PAYLOAD)

    counts = {c["topic"]: c for c in as_json(await cli("--json", "dlq", "list"))["topics"]}

    assert set(counts) == set(topics.DLQ_TOPICS)
    assert counts["raw-feedback.dlq"]["total"] == 3
    assert counts["raw-feedback.dlq"]["by_reason"] == {"invalid_json": 2, "processing_error": 1}
    assert counts["enriched.dlq"]["by_reason"] == {"invalid_payload": 1}
    assert counts["notifications.dlq"]["total"] == 0
    table = await cli("dlq", "list", "--topic", "raw-feedback.dlq")
    assert table.exit_code == 0
    assert "invalid_json" in table.stdout
    assert "enriched.dlq" not in table.stdout


async def test_show_decodes_headers_and_values_from_a_position(
    cli: Invoke, raw_producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    raw = topic_prefix + topics.RAW_FEEDBACK
    await put_dead_letter(raw_producer, source=raw, reason=DeadLetterReason.INVALID_PAYLOAD)
    await put_dead_letter(
        raw_producer, source=raw, reason=DeadLetterReason.INVALID_JSON, value=b"\xffnot json"
    )

    shown = as_json(await cli("dlq", "show", "raw-feedback.dlq", "--json", "--reveal"))["records"]
    from_second = as_json(
        await cli("--json", "dlq", "show", "--topic", "raw-feedback.dlq", "--offset", "0:1")
    )["records"]

    assert [(r["partition"], r["offset"]) for r in shown] == [(0, 0), (0, 1)]
    first = shown[0]
    assert first["key"] == "cust-1"
    assert first["value"] == {"event_id": "e-1"}
    assert first["dlq"]["dlq_reason"] == "invalid_payload"
    assert first["dlq"]["dlq_source_topic"] == raw
    assert first["dlq"]["dlq_source_offset"] == "7"
    assert first["dlq"]["dlq_consumer_group"] == "feedloop-enrich"
    assert first["dlq"]["dlq_replay_count"] == "0"
    assert first["headers"] == {"ce_id": "e-1"}
    assert shown[1]["value_is_json"] is False
    assert shown[1]["value"] == repr(b"\xffnot json")
    assert [r["offset"] for r in from_second] == [1]
    text = await cli("dlq", "show", "raw-feedback.dlq", "--limit", "1")
    assert "invalid_payload" in text.stdout
    assert '"event_id": "e-1"' in text.stdout


async def test_unknown_dead_letter_topic_is_a_usage_error(cli: Invoke) -> None:
    result = await cli("dlq", "show", "raw-feedback")
    assert result.exit_code == 2
    assert "not a dead-letter topic" in result.stderr
