"""Ingest logic: validate items (a whole batch at once), assign stable ids, produce each once.

The hot path does per item only what the broker round trip needs: a batch is validated by
pydantic-core in one call (item by item only when it holds an invalid item, to answer each),
and each event is serialised once: the envelope by orjson around the item's own JSON from
pydantic-core, with no envelope model built (tests check the bytes against Envelope's).
"""

import collections
import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from feedloop.common import topics
from feedloop.common.auth import ApiClient
from feedloop.common.codec import OutgoingRecord
from feedloop.common.errors import Unavailable
from feedloop.common.events import EVENT_NAMESPACE, FeedbackReceived, utcnow
from feedloop.common.feedback import FeedbackItem, without_union_tags
from feedloop.common.logs import correlation_id_var
from feedloop.common.problems import field_errors
from feedloop.ingest.claims import SharedClaims, produce_shared
from feedloop.ingest.idempotency import IdempotencyStore, Outcome
from feedloop.ingest.producer import DurableProducer
from feedloop.ingest.schemas import BatchItemResult, FieldError
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, TypeAdapter, ValidationError

log = logging.getLogger(__name__)

ITEMS = Counter("feedloop_ingest_items_total", "Feedback items by outcome.", ["outcome"])
_ITEMS_BY_OUTCOME = {o: ITEMS.labels(o) for o in ("accepted", "duplicate", "unavailable")}
REJECTED = Counter(
    "feedloop_ingest_rejected_total", "Items or requests refused, by reason.", ["reason"]
)

STORE_ENTRIES = Gauge(
    "feedloop_ingest_idempotency_entries",
    "Entries of the idempotency store: accepted ids, Idempotency-Keys.",
    ["kind"],
)
STORE_BYTES = Gauge(
    "feedloop_ingest_idempotency_bytes",
    "Accounted bytes of the idempotency store, bounded by its settings.",
    ["kind"],
)

ITEM_ADAPTER: TypeAdapter[Any] = TypeAdapter(FeedbackItem)
ITEMS_ADAPTER: TypeAdapter[list[Any]] = TypeAdapter(list[FeedbackItem])


def observe_store(store: IdempotencyStore) -> None:
    """Exposes the store's size at scrape time (nothing is counted per request)."""
    STORE_ENTRIES.labels("ids").set_function(lambda: len(store))
    STORE_ENTRIES.labels("keys").set_function(store.key_entries)
    STORE_BYTES.labels("ids").set_function(lambda: store.ids_bytes)
    STORE_BYTES.labels("keys").set_function(store.key_bytes)


_NAMESPACE = EVENT_NAMESPACE.bytes


def feedback_id_of(source_system: str, external_id: str) -> str:
    """Returns the stable feedback id of a source system's item.

    events.deterministic_id("feedback", source_system, external_id), the UUID 5 spelled out
    without building uuid.UUID objects (a test checks both agree).
    """
    name = "\x1f".join(("feedback", source_system, external_id)).encode()
    raw = bytearray(hashlib.sha1(_NAMESPACE + name, usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_EVENT_TYPE = FeedbackReceived.event_type
_EVENT_TYPE_BYTES = _EVENT_TYPE.encode()
_PRODUCER = "ingest"
_TAIL = b"null}}"  # how the envelope serialised with "item": None ends


def received_record(
    item: BaseModel,
    *,
    feedback_id: str,
    received_at: datetime,
    client_id: str,
    idempotency_key: str | None,
    correlation_id: str,
    topic: str,
) -> OutgoingRecord:
    """The feedback.received record of a validated item, serialised once.

    The same bytes and CloudEvents headers as codec.encode(Envelope.wrap(FeedbackReceived(...)))
    (the envelope's field order; datetimes as pydantic writes them): orjson writes the envelope
    with the item left null, and the item's own JSON from pydantic-core takes that null's place.
    """
    head = orjson.dumps(
        {
            "event_id": feedback_id,
            "event_type": _EVENT_TYPE,
            "schema_version": 1,
            "occurred_at": received_at,
            "producer": _PRODUCER,
            "correlation_id": correlation_id,
            "payload": {
                "feedback_id": feedback_id,
                "received_at": received_at,
                "client_id": client_id,
                "idempotency_key": idempotency_key,
                "item": None,
            },
        },
        option=orjson.OPT_UTC_Z,
    )
    value = head[: -len(_TAIL)] + item.__pydantic_serializer__.to_json(item) + b"}}"
    customer_id: str = item.customer.id  # type: ignore[attr-defined]
    headers = [
        (topics.HEADER_ID, feedback_id.encode()),
        (topics.HEADER_TYPE, _EVENT_TYPE_BYTES),
        (topics.HEADER_SOURCE, b"ingest"),
        (topics.HEADER_TIME, received_at.isoformat().encode()),
        (topics.HEADER_SPECVERSION, b"1.0"),
        (topics.HEADER_SCHEMA_VERSION, b"1"),
        (topics.HEADER_CORRELATION_ID, correlation_id.encode()),
        (topics.HEADER_CONTENT_TYPE, b"application/json"),
    ]
    return OutgoingRecord(topic=topic, key=customer_id.encode(), value=value, headers=headers)


def fingerprint(body: bytes) -> str:
    """Returns a digest of a request body, to detect a reused idempotency key."""
    return hashlib.sha256(body).hexdigest()


@dataclass
class Prepared:
    """A validated item with its id and record."""

    index: int
    item: BaseModel
    feedback_id: str
    record: OutgoingRecord


@dataclass
class Ingestor:
    """Turns validated items into feedback.received events on raw-feedback, once each."""

    producer: DurableProducer
    store: IdempotencyStore
    topic_prefix: str = ""
    shared: SharedClaims | None = None
    results: list[BatchItemResult] = field(default_factory=list)

    def prepare(
        self, index: int, item: BaseModel, *, client_id: str, idempotency_key: str | None
    ) -> Prepared:
        """Builds the event of one validated item (validated at the door: not again here)."""
        source_system: str = item.source_system  # type: ignore[attr-defined]
        external_id: str = item.external_id  # type: ignore[attr-defined]
        feedback_id = feedback_id_of(source_system, external_id)
        record = received_record(
            item,
            feedback_id=feedback_id,
            received_at=utcnow(),
            client_id=client_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id_var.get() or feedback_id,
            topic=self.topic_prefix + FeedbackReceived.topic,
        )
        return Prepared(index, item, feedback_id, record)

    async def submit(self, prepared: Sequence[Prepared]) -> dict[int, Outcome]:
        """Produces each item once; returns per index what became of it."""
        outcomes: dict[int, Outcome] = {}
        fresh: list[Prepared] = []
        seen: set[str] = set()
        for p in prepared:
            if self.store.known(p.feedback_id) or p.feedback_id in seen:
                outcomes[p.index] = "duplicate"
            else:
                seen.add(p.feedback_id)
                fresh.append(p)
        if len(fresh) == 1:
            p = fresh[0]
            outcomes[p.index] = await self.store.once(
                p.feedback_id, functools.partial(self._send_one, p)
            )
        elif fresh:
            outcomes |= await self._send_many(fresh)
        counted = collections.Counter(outcomes.values())
        for outcome, n in counted.items():
            _ITEMS_BY_OUTCOME[outcome].inc(n)
        return outcomes

    async def _send_one(self, p: Prepared) -> Outcome:
        return (await self._produce([p]))[p.index]

    async def _produce(self, claimed: list[Prepared]) -> dict[int, Outcome]:
        # Items this process holds: with shared claims, only those no other process holds.
        if self.shared is not None:
            return await produce_shared(self.shared, self.producer.send_all, claimed)
        errors = await self.producer.send_all([p.record for p in claimed])
        return {p.index: _outcome_of(e) for p, e in zip(claimed, errors, strict=True)}

    async def _send_many(self, fresh: list[Prepared]) -> dict[int, Outcome]:
        # Items go out together for throughput; ids another request is producing are awaited.
        outcomes: dict[int, Outcome] = {}
        claimed: list[Prepared] = []
        waiting: list[Prepared] = []
        for p in fresh:
            (waiting if self.store.claim(p.feedback_id) is not None else claimed).append(p)
        outcomes |= await self._produce(claimed) if claimed else {}
        for p in claimed:
            self.store.settle(p.feedback_id, outcomes[p.index])
        for p in waiting:
            outcomes[p.index] = await self.store.once(
                p.feedback_id, functools.partial(self._send_one, p)
            )
        return outcomes


def _outcome_of(error: BaseException | None) -> Outcome:
    return "accepted" if error is None else "unavailable"


def validate_item(raw: Any) -> tuple[BaseModel | None, list[FieldError]]:
    """Validates one raw item; returns the model or its field errors."""
    try:
        return ITEM_ADAPTER.validate_python(raw), []
    except ValidationError as exc:
        errors = field_errors(list(exc.errors()), strip=without_union_tags)
        return None, [FieldError(**e) for e in errors]


def door_errors(
    item: BaseModel, *, client: ApiClient, now: datetime, max_skew_s: float
) -> list[FieldError]:
    """What a valid item may still not do: speak for another system, or come from the future."""
    errors = []
    source_system: str = item.source_system  # type: ignore[attr-defined]
    if not client.may_write_for(source_system):
        errors.append(
            FieldError(
                field="source_system",
                message=f"client {client.client_id!r} may not write for {source_system!r}",
                type="source_system_forbidden",
            )
        )
    occurred_at: datetime = item.occurred_at  # type: ignore[attr-defined]
    if occurred_at > now + timedelta(seconds=max_skew_s):
        errors.append(
            FieldError(
                field="occurred_at",
                message=f"must not lie more than {max_skew_s:g} s in the future",
                type="datetime_future",
            )
        )
    return errors


class NotAcknowledged(Unavailable):
    """Kafka did not acknowledge items in time: nothing of them was accepted."""

    kind = "broker-unavailable"


def admit_batch(
    items: Sequence[Any], *, client: ApiClient, now: datetime, max_skew_s: float
) -> tuple[dict[int, BatchItemResult], dict[int, BaseModel]]:
    """Validates each item of a batch on its own: the rejected (by index) and the admitted.

    The whole batch goes through pydantic-core in one call; only a batch holding an invalid
    item is validated again item by item, so each item gets its own answer.
    """
    try:
        models = ITEMS_ADAPTER.validate_python(items)
    except ValidationError:
        return _admit_one_by_one(items, client=client, now=now, max_skew_s=max_skew_s)
    rejected: dict[int, BatchItemResult] = {}
    admitted: dict[int, BaseModel] = {}
    latest = now + timedelta(seconds=max_skew_s)
    may_write: dict[str, bool] = {}
    for index, item in enumerate(models):
        source_system: str = item.source_system
        allowed = may_write.get(source_system)
        if allowed is None:
            allowed = may_write[source_system] = client.may_write_for(source_system)
        if allowed and item.occurred_at <= latest:
            admitted[index] = item
            continue
        errors = door_errors(item, client=client, now=now, max_skew_s=max_skew_s)
        rejected[index] = _rejected(index, items[index], errors)
    return rejected, admitted


def _admit_one_by_one(
    items: Sequence[Any], *, client: ApiClient, now: datetime, max_skew_s: float
) -> tuple[dict[int, BatchItemResult], dict[int, BaseModel]]:
    rejected: dict[int, BatchItemResult] = {}
    admitted: dict[int, BaseModel] = {}
    for index, raw in enumerate(items):
        item, errors = validate_item(raw)
        if item is not None:
            errors = door_errors(item, client=client, now=now, max_skew_s=max_skew_s)
        if item is not None and not errors:
            admitted[index] = item
        else:
            rejected[index] = _rejected(index, raw, errors)
    return rejected, admitted


def _rejected(index: int, raw: Any, errors: list[FieldError]) -> BatchItemResult:
    REJECTED.labels("validation").inc()
    external_id = raw.get("external_id") if isinstance(raw, dict) else None
    return BatchItemResult(
        index=index,
        status="rejected",
        external_id=external_id if isinstance(external_id, str) else None,
        errors=errors,
        reason=f"{errors[0].field}: {errors[0].message}" if errors else "invalid",
    )


_NOT_ACKNOWLEDGED = "Kafka did not acknowledge in time; retry this item"


def item_result(p: Prepared, outcome: Outcome) -> dict[str, Any]:
    """The batch answer of one produced (or not acknowledged) item, as BatchItemResult dumps it.

    A plain dict: a batch answers up to thousands of these, and models cost per item.
    """
    return {
        "index": p.index,
        "status": outcome,
        "feedback_id": p.feedback_id,
        "external_id": p.item.external_id,  # type: ignore[attr-defined]
        "errors": [],
        "reason": _NOT_ACKNOWLEDGED if outcome == "unavailable" else None,
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts the per-item outcomes of a batch: the BatchResult answer, as a dict."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "unavailable": 0}
    for result in results:
        counts[result["status"]] += 1
    return {**counts, "results": results}
