"""Dead letters: one builder for poison records and for failures like `notification.failed`."""

from datetime import UTC, datetime

import jsonschema
import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, header
from feedloop.common.contracts import NOTIFICATION_FAILED as NOTIFICATION_FAILED_SCHEMA
from feedloop.common.dlq import (
    MAX_DEAD_LETTER_VALUE,
    NOTIFICATION_FAILED,
    NotificationFailed,
    dead_letter_record,
    failure_record,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _consumed(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t.prioritized",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"issue-1",
        value=value,
        checksum=None,
        serialized_key_size=7,
        serialized_value_size=len(value),
        headers=headers,
    )


def _failure() -> NotificationFailed:
    return NotificationFailed(
        delivery_id="d1",
        customer_id="c1",
        issue_id="i1",
        kind="resolution",
        round=1,
        channel="webhook",
        source_system="shop",
        attempts=5,
        error="HTTP 500",
        failed_at=NOW.isoformat(),
    )


def test_a_poison_record_keeps_its_value_and_headers_and_names_where_it_came_from() -> None:
    record = _consumed(
        b"{not json",
        [(topics.HEADER_ID, b"e1"), (topics.HEADER_DLQ_REPLAY_COUNT, b"2"), ("dlq_error", b"old")],
    )

    out = dead_letter_record(
        record, reason=DeadLetterReason.INVALID_JSON, detail="x" * 5000, group_id="g"
    )

    assert (out.topic, out.key, out.value) == ("t.prioritized.dlq", b"issue-1", b"{not json")
    assert header(out.headers, topics.HEADER_ID) == "e1"
    assert header(out.headers, topics.HEADER_DLQ_REASON) == "invalid_json"
    assert header(out.headers, topics.HEADER_DLQ_ERROR) == "x" * 4000
    assert header(out.headers, topics.HEADER_DLQ_SOURCE_TOPIC) == "t.prioritized"
    assert header(out.headers, topics.HEADER_DLQ_SOURCE_PARTITION) == "2"
    assert header(out.headers, topics.HEADER_DLQ_SOURCE_OFFSET) == "41"
    assert header(out.headers, topics.HEADER_DLQ_CONSUMER_GROUP) == "g"
    assert header(out.headers, topics.HEADER_DLQ_REPLAY_COUNT) == "2"
    # Earlier dlq_* headers are replaced, not repeated.
    assert [k for k, _ in out.headers].count(topics.HEADER_DLQ_ERROR) == 1


def test_a_poison_record_too_large_for_the_broker_is_cut_and_says_so() -> None:
    record = _consumed(b"a" * (MAX_DEAD_LETTER_VALUE + 10), [])

    out = dead_letter_record(
        record, reason=DeadLetterReason.INVALID_PAYLOAD, detail="big", group_id="g", dlq="x.dlq"
    )

    assert out.topic == "x.dlq"
    assert len(out.value) == MAX_DEAD_LETTER_VALUE
    assert header(out.headers, topics.HEADER_DLQ_VALUE_TRUNCATED) == str(MAX_DEAD_LETTER_VALUE + 10)


def test_a_failed_notification_is_a_typed_json_record_matching_its_published_schema() -> None:
    out = failure_record(
        NOTIFICATION_FAILED,
        _failure(),
        event_id="ev1",
        topic="p.notifications.dlq",
        key="i1",
        source="notify",
        reason=DeadLetterReason.DELIVERY_FAILED,
        error="HTTP 500",
        group_id="notify",
        failed_at=NOW,
    )

    body = orjson.loads(out.value)
    jsonschema.validate(body, NOTIFICATION_FAILED_SCHEMA)
    assert body == dict(_failure())
    assert (out.topic, out.key) == ("p.notifications.dlq", b"i1")
    assert [(k, v.decode()) for k, v in out.headers] == [
        (topics.HEADER_ID, "ev1"),
        (topics.HEADER_TYPE, "notification.failed"),
        (topics.HEADER_SOURCE, "notify"),
        (topics.HEADER_TIME, NOW.isoformat()),
        (topics.HEADER_CONTENT_TYPE, "application/json"),
        (topics.HEADER_DLQ_REASON, "delivery_failed"),
        (topics.HEADER_DLQ_ERROR, "HTTP 500"),
        (topics.HEADER_DLQ_CONSUMER_GROUP, "notify"),
        (topics.HEADER_DLQ_FAILED_AT, NOW.isoformat()),
    ]


def test_only_failure_types_defined_in_common_can_be_built() -> None:
    with pytest.raises(ValueError, match="unknown failure type"):
        failure_record(
            "notification.lost",
            _failure(),
            event_id="ev1",
            topic="notifications.dlq",
            key="i1",
            source="notify",
            reason=DeadLetterReason.DELIVERY_FAILED,
            error="",
            group_id="notify",
            failed_at=NOW,
        )
