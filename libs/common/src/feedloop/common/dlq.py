"""Dead letters: the one place where records for a dead-letter topic are built.

Two kinds of record reach a dead-letter topic, both carrying the same `dlq_*` reason headers:

- a poison record (`dead_letter_record`): a consumed record that can never be processed,
  copied as it came to `<topic>.dlq`, with headers naming where it came from;
- a failure (`failure_record`): work that failed for good after its retries, written as a
  small JSON document of one of the failure types defined here (`NOTIFICATION_FAILED`), with
  CloudEvents-style id, type, source and time headers but no envelope.
"""

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

import orjson
from aiokafka.structs import ConsumerRecord
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, Headers, OutgoingRecord

MAX_DEAD_LETTER_VALUE: Final = 900_000
"""Bytes of a poison record's value kept in its dead letter (the broker's limit is 1 MiB)."""
MAX_ERROR: Final = 4000
"""Characters of the error kept in the `dlq_error` header."""

NOTIFICATION_FAILED: Final = "notification.failed"
"""A customer notification that failed after its retries (notify, on `notifications.dlq`)."""
FAILURE_TYPES: Final = frozenset({NOTIFICATION_FAILED})


class NotificationFailed(TypedDict):
    """The body of a `notification.failed` record."""

    delivery_id: str
    customer_id: str
    issue_id: str
    kind: str
    round: int
    channel: str
    source_system: str
    attempts: int
    error: str
    failed_at: str


def _reason_headers(reason: DeadLetterReason, error: str) -> Headers:
    return [
        (topics.HEADER_DLQ_REASON, str(reason).encode()),
        (topics.HEADER_DLQ_ERROR, error[:MAX_ERROR].encode()),
    ]


def _failed_headers(group_id: str, failed_at: datetime) -> Headers:
    return [
        (topics.HEADER_DLQ_CONSUMER_GROUP, group_id.encode()),
        (topics.HEADER_DLQ_FAILED_AT, failed_at.isoformat().encode()),
    ]


def dead_letter_record(
    record: ConsumerRecord[bytes, bytes],
    *,
    reason: DeadLetterReason,
    detail: str,
    group_id: str,
    dlq: str | None = None,
) -> OutgoingRecord:
    """Returns the original record addressed to its dead-letter topic, with reason headers."""
    replays = 0
    kept: Headers = []
    for key, value in record.headers or ():
        if key == topics.HEADER_DLQ_REPLAY_COUNT:
            with contextlib.suppress(ValueError):
                replays = int((value or b"").decode())
        if not key.startswith("dlq_"):
            kept.append((key, value))
    extra: Headers = [
        *_reason_headers(reason, detail),
        (topics.HEADER_DLQ_SOURCE_TOPIC, record.topic.encode()),
        (topics.HEADER_DLQ_SOURCE_PARTITION, str(record.partition).encode()),
        (topics.HEADER_DLQ_SOURCE_OFFSET, str(record.offset).encode()),
        *_failed_headers(group_id, datetime.now(UTC)),
        (topics.HEADER_DLQ_REPLAY_COUNT, str(replays).encode()),
    ]
    value = record.value if record.value is not None else b""
    if len(value) > MAX_DEAD_LETTER_VALUE:
        # The copy must fit the broker's record limit with our headers added, or the poison
        # record could not leave its partition at all; the original stays in the source log.
        extra.append((topics.HEADER_DLQ_VALUE_TRUNCATED, str(len(value)).encode()))
        value = value[:MAX_DEAD_LETTER_VALUE]
    return OutgoingRecord(
        topic=dlq or topics.dlq_topic(record.topic),
        key=record.key,
        value=value,
        headers=kept + extra,
    )


def failure_record(
    event_type: str,
    body: Mapping[str, Any],
    *,
    event_id: str,
    topic: str,
    key: str,
    source: str,
    reason: DeadLetterReason,
    error: str,
    group_id: str,
    failed_at: datetime,
) -> OutgoingRecord:
    """Returns the dead letter of work that failed for good: `body` as JSON, typed headers."""
    if event_type not in FAILURE_TYPES:
        raise ValueError(f"unknown failure type {event_type!r}")
    headers: Headers = [
        (topics.HEADER_ID, event_id.encode()),
        (topics.HEADER_TYPE, event_type.encode()),
        (topics.HEADER_SOURCE, source.encode()),
        (topics.HEADER_TIME, failed_at.isoformat().encode()),
        (topics.HEADER_CONTENT_TYPE, b"application/json"),
        *_reason_headers(reason, error),
        *_failed_headers(group_id, failed_at),
    ]
    return OutgoingRecord(topic=topic, key=key.encode(), value=orjson.dumps(body), headers=headers)
