"""Ingest logic: validate items one by one, assign stable ids, produce each exactly once."""

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.auth import ApiClient
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.errors import Unavailable
from feedloop.common.events import Envelope, FeedbackReceived, deterministic_id, utcnow
from feedloop.common.feedback import FeedbackItem, without_union_tags
from feedloop.common.logs import correlation_id_var
from feedloop.common.problems import field_errors
from feedloop.ingest.idempotency import IdempotencyStore, Outcome
from feedloop.ingest.producer import DurableProducer
from feedloop.ingest.schemas import BatchItemResult, BatchResult, FieldError
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, TypeAdapter, ValidationError

log = logging.getLogger(__name__)

ITEMS = Counter("feedloop_ingest_items_total", "Feedback items by outcome.", ["outcome"])
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


def observe_store(store: IdempotencyStore) -> None:
    """Exposes the store's size at scrape time (nothing is counted per request)."""
    STORE_ENTRIES.labels("ids").set_function(lambda: len(store))
    STORE_ENTRIES.labels("keys").set_function(store.key_entries)
    STORE_BYTES.labels("ids").set_function(lambda: store.ids_bytes)
    STORE_BYTES.labels("keys").set_function(store.key_bytes)


def feedback_id_of(source_system: str, external_id: str) -> str:
    """Returns the stable feedback id of a source system's item."""
    return deterministic_id("feedback", source_system, external_id)


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
    results: list[BatchItemResult] = field(default_factory=list)

    def prepare(
        self, index: int, item: BaseModel, *, client_id: str, idempotency_key: str | None
    ) -> Prepared:
        """Builds the event of one validated item."""
        source_system: str = item.source_system  # type: ignore[attr-defined]
        external_id: str = item.external_id  # type: ignore[attr-defined]
        feedback_id = feedback_id_of(source_system, external_id)
        # The item was validated at the door: build the event without validating it again.
        payload = FeedbackReceived.model_construct(
            feedback_id=feedback_id,
            received_at=utcnow(),
            client_id=client_id,
            idempotency_key=idempotency_key,
            item=item,  # type: ignore[arg-type]
        )
        envelope = Envelope.wrap(
            payload,
            event_id=feedback_id,
            producer="ingest",
            correlation_id=correlation_id_var.get() or feedback_id,
            occurred_at=payload.received_at,
            validate=False,
        )
        customer_id: str = item.customer.id  # type: ignore[attr-defined]
        return Prepared(
            index, item, feedback_id, encode(envelope, key=customer_id, prefix=self.topic_prefix)
        )

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
                p.feedback_id, functools.partial(self._send_one, p.record)
            )
        elif fresh:
            outcomes |= await self._send_many(fresh)
        for outcome in outcomes.values():
            ITEMS.labels(outcome).inc()
        return outcomes

    async def _send_one(self, record: OutgoingRecord) -> Outcome:
        (error,) = await self.producer.send_all([record])
        return _outcome_of(error)

    async def _send_many(self, fresh: list[Prepared]) -> dict[int, Outcome]:
        # Items go out together for throughput; ids another request is producing are awaited.
        outcomes: dict[int, Outcome] = {}
        claimed: list[Prepared] = []
        waiting: list[Prepared] = []
        for p in fresh:
            (waiting if self.store.claim(p.feedback_id) is not None else claimed).append(p)
        errors = await self.producer.send_all([p.record for p in claimed])
        for p, error in zip(claimed, errors, strict=True):
            outcomes[p.index] = _outcome_of(error)
            self.store.settle(p.feedback_id, outcomes[p.index])
        for p in waiting:
            outcomes[p.index] = await self.store.once(
                p.feedback_id, functools.partial(self._send_one, p.record)
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
    """Validates each item of a batch on its own: the rejected (by index) and the admitted."""
    rejected: dict[int, BatchItemResult] = {}
    admitted: dict[int, BaseModel] = {}
    for index, raw in enumerate(items):
        item, errors = validate_item(raw)
        if item is not None:
            errors = door_errors(item, client=client, now=now, max_skew_s=max_skew_s)
        if item is not None and not errors:
            admitted[index] = item
            continue
        REJECTED.labels("validation").inc()
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        rejected[index] = BatchItemResult(
            index=index,
            status="rejected",
            external_id=external_id if isinstance(external_id, str) else None,
            errors=errors,
            reason=f"{errors[0].field}: {errors[0].message}" if errors else "invalid",
        )
    return rejected, admitted


def item_result(p: Prepared, outcome: Outcome) -> BatchItemResult:
    """The batch answer of one produced (or not acknowledged) item."""
    external_id: str = p.item.external_id  # type: ignore[attr-defined]
    reason = "Kafka did not acknowledge in time; retry this item"
    return BatchItemResult(
        index=p.index,
        status=outcome,
        feedback_id=p.feedback_id,
        external_id=external_id,
        reason=reason if outcome == "unavailable" else None,
    )


def summarise(results: list[BatchItemResult]) -> BatchResult:
    """Counts the per-item outcomes of a batch."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "unavailable": 0}
    for result in results:
        counts[result.status] += 1
    return BatchResult(results=results, **counts)
