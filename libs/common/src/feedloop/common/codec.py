"""Turning envelopes into Kafka records and back, with poison records named by reason."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from feedloop.common import topics
from feedloop.common.events import EVENT_TYPES, SUPPORTED_SCHEMA_VERSIONS, Contract, Envelope
from pydantic import ValidationError

Headers = list[tuple[str, bytes]]


class DeadLetterReason(StrEnum):
    """Why a record went to a dead-letter topic."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    INVALID_PAYLOAD = "invalid_payload"
    PROCESSING_ERROR = "processing_error"
    DELIVERY_FAILED = "delivery_failed"
    TOO_SLOW = "too_slow"


class PoisonRecord(Exception):
    """A record that can never be processed; it belongs in the dead-letter topic."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record ready to be sent."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def event_headers(envelope: Envelope[Any]) -> Headers:
    """Returns the CloudEvents binary-mode headers of an envelope."""
    return [
        (topics.HEADER_ID, envelope.event_id.encode()),
        (topics.HEADER_TYPE, envelope.event_type.encode()),
        (topics.HEADER_SOURCE, envelope.producer.encode()),
        (topics.HEADER_TIME, envelope.occurred_at.isoformat().encode()),
        (topics.HEADER_SPECVERSION, b"1.0"),
        (topics.HEADER_SCHEMA_VERSION, str(envelope.schema_version).encode()),
        (topics.HEADER_CORRELATION_ID, envelope.correlation_id.encode()),
        (topics.HEADER_CONTENT_TYPE, b"application/json"),
    ]


def encode(envelope: Envelope[Any], *, key: str | None, prefix: str = "") -> OutgoingRecord:
    """Serialises an envelope for its payload's topic (with the settings' topic prefix)."""
    topic: str = type(envelope.payload).topic
    return OutgoingRecord(
        topic=prefix + topic,
        key=key.encode() if key is not None else None,
        value=envelope.model_dump_json().encode(),
        headers=event_headers(envelope),
    )


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    """Returns the value of a header as text, or None."""
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", "replace") if value is not None else None
    return None


def decode(value: bytes | None, *, accept: Sequence[type[Contract]]) -> Envelope[Any]:
    """Parses and validates a record's value; raises PoisonRecord with the reason."""
    if value is None:
        raise PoisonRecord(DeadLetterReason.INVALID_JSON, "record has no value (tombstone)")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonRecord(DeadLetterReason.INVALID_JSON, str(exc)) from exc
    if not isinstance(raw, dict):
        raise PoisonRecord(DeadLetterReason.INVALID_JSON, "value is not a JSON object")
    event_type = raw.get("event_type")
    model = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None or model not in accept:
        raise PoisonRecord(
            DeadLetterReason.UNKNOWN_EVENT_TYPE,
            f"event_type {event_type!r} is not one of {[m.event_type for m in accept]}",  # type: ignore[attr-defined]
        )
    version = raw.get("schema_version")
    # Type first: a list or an object is unhashable, and True == 1 in a set lookup.
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise PoisonRecord(
            DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION,
            f"schema_version {version!r} of {event_type} is not one of "
            f"{sorted(SUPPORTED_SCHEMA_VERSIONS)}",
        )
    try:
        return Envelope[model].model_validate(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PoisonRecord(DeadLetterReason.INVALID_PAYLOAD, errors) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        # A validator that raised something else than a validation error: still the data's fault.
        raise PoisonRecord(DeadLetterReason.INVALID_PAYLOAD, repr(exc)[:1000]) from exc
