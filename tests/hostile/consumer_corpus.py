"""Hostile records a foreign producer writes straight to each consumer's input topic.

Each case names the topic it is written to, a key of its own (dead letters keep the key, so the
test finds them by it) and, where the record could be processed, the feedback id whose arrival
downstream shows it was. Good records are cases too, written before, between and after.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import (
    Envelope,
    FeedbackPrioritized,
    FeedbackReceived,
    FeedbackRef,
    IssueUpdated,
    Priority,
    Sentiment,
    deterministic_id,
)
from feedloop.common.feedback import Channel, Customer

from tests.e2e.enriched import complaint
from tests.e2e.enriched import record as enriched_record


@dataclass(frozen=True, slots=True)
class Case:
    """One record of the corpus and how to recognise its outcome."""

    name: str
    topic: str  # logical input topic
    value: bytes | None
    feedback_id: str | None = None  # None: it can only end on the DLQ
    good: bool = False
    compression: str | None = None  # written by a producer compressing with this codec

    @property
    def key(self) -> bytes:
        """The record's key: the case's name."""
        return self.name.encode()


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _received(name: str, text: str, **item: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    body: dict[str, Any] = {
        "channel": "support_ticket",
        "ticket_id": f"T-{name}",
        "source_system": "shop",
        "external_id": name,
        "customer": {"id": f"c-{name}"},
        "text": text,
        "occurred_at": now,
    } | item
    feedback_id = deterministic_id("shop", name)
    payload = {"feedback_id": feedback_id, "received_at": now, "client_id": "shop", "item": body}
    return {
        "event_id": feedback_id,
        "event_type": FeedbackReceived.event_type,
        "schema_version": 1,
        "occurred_at": now,
        "producer": "foreign",
        "correlation_id": name,
        "payload": payload,
    }


def _raw(name: str, text: str, *, good: bool = False, **item: Any) -> Case:
    event = _received(name, text, **item)
    return Case(name, topics.RAW_FEEDBACK, _json(event), event["payload"]["feedback_id"], good=good)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"k": value}
    return value


def raw_feedback_cases(run: str) -> list[Case]:
    """Records for enrich: regex bombs and odd text enrich, the rest its DLQ."""
    n = f"{run}-raw"
    broken = _received(f"{n}-listver", "Runs small.")
    broken["schema_version"] = [1]
    text_version = _received(f"{n}-strver", "Runs small.")
    text_version["schema_version"] = "1"
    unknown = _received(f"{n}-type", "Runs small.")
    unknown["event_type"] = "feedback.teleported"
    return [
        _raw(f"{n}-good-a", "The jeans run small, I had to return them.", good=True),
        Case(f"{n}-badjson", topics.RAW_FEEDBACK, b'{"event_id": "x", '),
        Case(f"{n}-listver", topics.RAW_FEEDBACK, _json(broken), None),
        Case(f"{n}-strver", topics.RAW_FEEDBACK, _json(text_version), None),
        Case(f"{n}-type", topics.RAW_FEEDBACK, _json(unknown), None),
        Case(f"{n}-tombstone", topics.RAW_FEEDBACK, None),
        Case(f"{n}-array", topics.RAW_FEEDBACK, b"[1, 2, 3]"),
        Case(f"{n}-nan", topics.RAW_FEEDBACK, b'{"schema_version": NaN}'),
        Case(f"{n}-surrogate", topics.RAW_FEEDBACK, b'{"event_id": "\\ud800"}'),
        Case(f"{n}-deep", topics.RAW_FEEDBACK, b'{"k":' * 2000 + b"1" + b"}" * 2000),
        _raw(f"{n}-bomb-hyphen", "Aa-" * 4000),
        _raw(f"{n}-bomb-spaces", "a" + " " * 10000 + "a"),
        _raw(f"{n}-bomb-lines", "a" + " \n" * 5000 + "a"),
        _raw(f"{n}-nul", "Runs \x00 small"),
        _raw(f"{n}-rtl", "\u202eThe zip broke\u202c \u200b\u200d\u2066text\u2069"),
        _raw(f"{n}-emoji", "\U0001f621\U0001f621\U0001f4e6\U0001f4a5"),
        _raw(f"{n}-html", "<script>alert('x')</script><img src=x onerror=alert(1)>"),
        _raw(f"{n}-sql", "'); DROP TABLE feedback; -- the parcel was late"),
        _raw(f"{n}-arr", "Runs small.", customer={"id": f"c-{n}-arr", "value": {"arr": 1e308}}),
        _raw(f"{n}-locale", "Runs small.", locale="en-" + "-abcdefgh" * 20),
        _raw(f"{n}-meta-huge", "Runs small.", metadata={"blob": "x" * 200_000}),
        _raw(f"{n}-meta-deep", "Runs small.", metadata=_nested(200)),
        _raw(f"{n}-text-1mb", "y" * 900_000),
        _raw(f"{n}-text-64k", "The zip broke. " * 4400),
        _raw(f"{n}-wrong-type", "Runs small.", customer="c-1"),
        Case(
            f"{n}-zstd",
            topics.RAW_FEEDBACK,
            _json(_received(f"{n}-zstd", "The parcel came a week late.")),
            deterministic_id("shop", f"{n}-zstd"),
            good=True,
            compression="zstd",
        ),
        Case(
            f"{n}-lz4",
            topics.RAW_FEEDBACK,
            _json(_received(f"{n}-lz4", "Support never answered my e-mails.")),
            deterministic_id("shop", f"{n}-lz4"),
            good=True,
            compression="lz4",
        ),
        _raw(f"{n}-good-z", "The app crashes when I open the basket.", good=True),
    ]


def _enriched_case(name: str, mutate: dict[str, Any] | None = None, **case: Any) -> Case:
    event = complaint(abs(hash(name)) % 1000, run=name, theme="delivery", customer=f"c-{name}")
    value = orjson.loads(enriched_record(event, prefix="").value)
    for path, new in (mutate or {}).items():
        *parents, leaf = path.split(".")
        target: Any = value
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[leaf] = new
    return Case(name, topics.ENRICHED, _json(value), event.feedback_id, **case)


def enriched_cases(run: str) -> list[Case]:
    """Records for prioritize: values PostgreSQL refuses, wrong types, compressed batches."""
    n = f"{run}-enr"
    return [
        _enriched_case(f"{n}-good-a", good=True),
        Case(f"{n}-badjson", topics.ENRICHED, b"{nope"),
        _enriched_case(f"{n}-listver", {"schema_version": [1, 2]}),
        _enriched_case(f"{n}-nul-evidence", {"payload.enrichment.language.code": "e\x00n"}),
        _enriched_case(f"{n}-nul-text", {"payload.item.text": "late \x00 parcel"}),
        _enriched_case(f"{n}-arr", {"payload.item.customer.value": {"arr": 1e308}}),
        _enriched_case(f"{n}-embedding", {"payload.enrichment.embedding": [1e308] * 384}),
        _enriched_case(f"{n}-theme-long", {"payload.enrichment.primary_theme": "t" * 500}),
        _enriched_case(f"{n}-meta-huge", {"payload.item.metadata": {"x": "y" * 100_000}}),
        _enriched_case(f"{n}-wrong-type", {"payload.enrichment.sentiment": "bad"}),
        _enriched_case(f"{n}-zstd", good=True, compression="zstd"),
        _enriched_case(f"{n}-lz4", good=True, compression="lz4"),
        _enriched_case(f"{n}-good-z", good=True),
    ]


def _linked(name: str, issue_id: str, *, source: str = "shop", locale: str | None = None) -> Any:
    now = datetime.now(UTC)
    payload = FeedbackPrioritized(
        feedback=FeedbackRef(
            feedback_id=f"f-{name}",
            source_system=source,
            external_id=f"ext-{name}",
            channel=Channel.SUPPORT_TICKET,
            customer=Customer(id=f"c-{name}"),
            locale=locale,
            occurred_at=now,
            received_at=now,
            sentiment=Sentiment(label="negative", score=-0.7, confidence=0.9),
        ),
        issue_id=issue_id,
        issue_status="new",
        is_pattern=True,
        severity="medium",
        priority=Priority(score=10.0),
    )
    return Envelope.wrap(
        payload, event_id=deterministic_id("p", name), producer="prioritize", correlation_id=name
    )


def _prioritized(
    name: str, envelope: Any, mutate: dict[str, Any] | None = None, **case: Any
) -> Case:
    value = orjson.loads(envelope.model_dump_json())
    for path, new in (mutate or {}).items():
        *parents, leaf = path.split(".")
        target: Any = value
        for part in parents:
            target = target[part]
        target[leaf] = new
    feedback_id = value["payload"].get("feedback", {}).get("feedback_id")
    return Case(name, topics.PRIORITIZED, _json(value), feedback_id, **case)


def resolution(issue_id: str) -> OutgoingRecord:
    """The issue.updated that resolves the corpus's issue, so every linked customer is closed."""
    payload = IssueUpdated(
        issue_id=issue_id,
        version=1,
        title="Hostile corpus",
        status="resolved",
        resolution_message="Fixed.",
        is_pattern=True,
        severity="medium",
        priority=Priority(score=10.0),
        feedback_count=1,
        distinct_customers=1,
        resolved_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(
        payload, event_id=deterministic_id("r", issue_id), producer="prioritize", correlation_id="r"
    )
    return encode(envelope, key=issue_id)


def prioritized_cases(run: str, issue_id: str) -> list[Case]:
    """Records for notify, all linking customers to one issue (resolved after them)."""
    n = f"{run}-pri"

    def linked(name: str, **kw: Any) -> Any:
        return _linked(name, issue_id, **kw)

    return [
        _prioritized(f"{n}-good-a", linked(f"{n}-good-a"), good=True),
        Case(f"{n}-badjson", topics.PRIORITIZED, b"\xff\xfe not json"),
        _prioritized(f"{n}-listver", linked(f"{n}-listver"), {"schema_version": [1]}),
        _prioritized(f"{n}-nul", linked(f"{n}-nul"), {"payload.feedback.source_system": "s\x00"}),
        _prioritized(f"{n}-inf", linked(f"{n}-inf"), {"payload.priority.score": 1e308}),
        _prioritized(f"{n}-locale", linked(f"{n}-locale", locale="en-" + "x" * 80)),
        _prioritized(f"{n}-source-long", linked(f"{n}-source-long", source="s" * 500)),
        _prioritized(f"{n}-wrong-type", linked(f"{n}-wrong-type"), {"payload.issue_id": 5}),
        _prioritized(f"{n}-zstd", linked(f"{n}-zstd"), good=True, compression="zstd"),
        _prioritized(f"{n}-lz4", linked(f"{n}-lz4"), good=True, compression="lz4"),
        _prioritized(f"{n}-good-z", linked(f"{n}-good-z"), good=True),
    ]
