"""The Kafka loop of enrich: `raw-feedback` in, `enriched` out, in one transaction per batch.

Exactly-once, and where aiokafka falls short of it: each batch's enriched records, its dead
letters and its input offsets are committed in one Kafka transaction (BatchConsumer in
transactional mode), and `enriched` is read with read_committed. The transactional id is stable
per instance (the pod name), so a restarted instance fences its own zombie. aiokafka speaks only
the old transaction protocol, without KIP-447's consumer-group fencing: an instance that lost its
partitions in a rebalance while it was stalled (past the session timeout) can still commit a
transaction for records the new owner also processes. The rebalance listener narrows that window
(a revoke waits for the batch in flight), and the rest is closed downstream: the enriched event id
is derived from the feedback id and the model versions, so prioritize drops the repeat by id.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, OutgoingRecord, PoisonRecord, decode, encode
from feedloop.common.events import Enrichment, Envelope, FeedbackEnriched, FeedbackReceived
from feedloop.common.kafka import (
    BatchHandler,
    Emitter,
    Record,
    count,
    create_producer,
    send_dead_letter,
)
from feedloop.common.metrics import EVENT_LATENCY
from feedloop.enrich.limits import fit_item
from feedloop.enrich.service import Document, Enricher
from feedloop.enrich.settings import EnrichSettings

log = logging.getLogger(__name__)
SERVICE = "enrich"
UNTHEMED_KEY = "unthemed"
"""Key of items without a theme: prioritize groups them under this very name."""

Position = tuple[str, int, int]


class RecentIds:
    """Event ids enriched lately, with where they were read: a copy read elsewhere is a repeat.

    The same record read again (a batch retried after an aborted transaction) sits at the same
    position, so it is processed again rather than lost as a "repeat" of its uncommitted self.
    Only enriched items are remembered: a dead-lettered one replayed later must go through.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, Position] = OrderedDict()

    def seen_elsewhere(self, keys: Sequence[str], position: Position) -> bool:
        """True when one of the keys was enriched from another position."""
        return any(self._seen.get(k, position) != position for k in keys)

    def remember(self, keys: Sequence[str], position: Position) -> None:
        """Records the keys of an enriched item, forgetting the oldest beyond capacity."""
        if self.capacity == 0:
            return
        for key in keys:
            self._seen[key] = position
            self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


@dataclass(slots=True)
class _Pending:
    record: Record
    envelope: Envelope[Any]
    keys: list[str]
    item: Any = None
    document: Document | None = None


def create_transactional_producer(settings: EnrichSettings) -> AIOKafkaProducer:
    """Returns the producer whose transactions carry outputs, dead letters and offsets."""
    # A batch may take as long as the consumer may go without polling; aiokafka's default
    # transaction timeout (60 s) would abort a slow batch forever instead.
    return create_producer(
        settings,
        transactional_id=settings.resolved_transactional_id(),
        transaction_timeout_ms=settings.max_poll_interval_ms,
    )


def enrich_handler(*, enricher: Enricher, settings: EnrichSettings) -> BatchHandler:
    """Returns the batch handler: poison, slow and failed items to the DLQ, the rest enriched."""
    topic = settings.topic(topics.RAW_FEEDBACK)
    dlq = settings.topic(topics.dlq_topic(topics.RAW_FEEDBACK))
    recent = RecentIds(settings.dedup_window)

    async def dead_letter(
        emitter: Emitter, record: Record, reason: DeadLetterReason, detail: str
    ) -> None:
        await send_dead_letter(
            emitter,
            record,
            reason=reason,
            detail=detail,
            service=SERVICE,
            group_id=settings.consumer_group,
            dlq=dlq,
        )

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        pending = await _decoded(records, recent, topic, dead_letter, emitter)
        ready = await _prepared(
            enricher,
            pending,
            budget_s=settings.item_budget_s,
            dead_letter=dead_letter,
            emitter=emitter,
        )
        if not ready:
            return
        results = await analyse_isolating_failures(enricher, ready)
        produced = 0
        for p, result in zip(ready, results, strict=True):
            try:
                if isinstance(result, BaseException):
                    raise PoisonRecord(DeadLetterReason.PROCESSING_ERROR, repr(result))
                out = enriched_record(enricher, p, result, prefix=settings.kafka_topic_prefix)
            except PoisonRecord as exc:
                await dead_letter(emitter, p.record, exc.reason, exc.detail)
                continue
            await _emit(emitter, out, p, recent=recent, topic=topic)
            produced += 1
        count(SERVICE, topic, "processed", produced)

    return handle


DeadLetter = Callable[[Emitter, Record, DeadLetterReason, str], Awaitable[None]]


async def _prepared(
    enricher: Enricher,
    pending: Sequence["_Pending"],
    *,
    budget_s: float,
    dead_letter: DeadLetter,
    emitter: Emitter,
) -> list["_Pending"]:
    """Redacts and segments each item within its budget; the ones that fail are dead-lettered."""
    ready: list[_Pending] = []
    for p in pending:
        try:
            p.item, p.document = await prepare_within(enricher, p.envelope.payload, budget_s)
            ready.append(p)
        except PoisonRecord as exc:
            await dead_letter(emitter, p.record, exc.reason, exc.detail)
        except Exception as exc:
            await dead_letter(emitter, p.record, DeadLetterReason.PROCESSING_ERROR, repr(exc))
    return ready


async def _emit(
    emitter: Emitter, out: OutgoingRecord, p: "_Pending", *, recent: RecentIds, topic: str
) -> None:
    """Sends one enriched record and remembers its ids (a later repeat is skipped)."""
    await emitter.send(out)
    recent.remember(p.keys, (p.record.topic, p.record.partition, p.record.offset))
    EVENT_LATENCY.labels(SERVICE, topic).observe(
        max(0.0, time.time() - p.envelope.payload.received_at.timestamp())
    )


async def _decoded(
    records: Sequence[Record],
    recent: RecentIds,
    topic: str,
    dead_letter: DeadLetter,
    emitter: Emitter,
) -> list[_Pending]:
    """Decodes a batch: poison to the DLQ, repeats dropped, the rest pending."""
    pending: list[_Pending] = []
    in_batch: set[str] = set()
    duplicates = 0
    for record in records:
        try:
            envelope = decode(record.value, accept=[FeedbackReceived])
        except PoisonRecord as exc:
            await dead_letter(emitter, record, exc.reason, exc.detail)
            continue
        keys = [envelope.event_id, f"feedback:{envelope.payload.feedback_id}"]
        position = (record.topic, record.partition, record.offset)
        if in_batch.intersection(keys) or recent.seen_elsewhere(keys, position):
            duplicates += 1
            continue
        in_batch.update(keys)
        pending.append(_Pending(record, envelope, keys))
    count(SERVICE, topic, "duplicate", duplicates)
    return pending


async def prepare_within(
    enricher: Enricher, event: FeedbackReceived, budget_s: float
) -> tuple[Any, Document]:
    """Redacts and segments one item in a worker thread; PoisonRecord(too_slow) past the budget.

    Off the event loop, so heartbeats, probes and other items go on meanwhile. A thread cannot
    be killed: one over budget is abandoned (it ends by itself; the regexes are linear), and
    work that held the GIL past the deadline is caught by its measured time.
    """
    started = time.perf_counter()
    try:
        item, document = await asyncio.wait_for(
            asyncio.to_thread(enricher.prepare, event), budget_s
        )
    except TimeoutError as exc:
        raise _too_slow(budget_s, time.perf_counter() - started) from exc
    elapsed = time.perf_counter() - started
    if elapsed > budget_s:
        raise _too_slow(budget_s, elapsed)
    return fit_item(item), document


def _too_slow(budget_s: float, elapsed_s: float) -> PoisonRecord:
    return PoisonRecord(
        DeadLetterReason.TOO_SLOW,
        f"redaction and segmentation took over {elapsed_s:.2f}s, budget {budget_s:g}s",
    )


def enriched_record(
    enricher: Enricher, p: _Pending, result: Enrichment, *, prefix: str
) -> OutgoingRecord:
    """Returns the `enriched` record of an item, validated as prioritize will read it.

    Raises PoisonRecord (invalid_payload) when the outgoing event breaks its contract: better
    the input on our DLQ with the reason than a record prioritize has to dead-letter.
    """
    event: FeedbackReceived = p.envelope.payload
    enriched = FeedbackEnriched(
        feedback_id=event.feedback_id,
        received_at=event.received_at,
        item=p.item,
        enrichment=result,
    )
    out = Envelope.wrap(
        enriched,
        event_id=enricher.enriched_event_id(event.feedback_id),
        producer=SERVICE,
        correlation_id=p.envelope.correlation_id,
    )
    record = encode(out, key=result.primary_theme or UNTHEMED_KEY, prefix=prefix)
    try:
        decode(record.value, accept=[FeedbackEnriched])
    except PoisonRecord as exc:
        raise PoisonRecord(
            exc.reason, f"the enriched event would be invalid: {exc.detail}"
        ) from exc
    return record


async def analyse_isolating_failures(enricher: Enricher, pending: Sequence[_Pending]) -> list[Any]:
    """Analyses a batch in a worker thread; on failure item by item, so one bad item fails alone.

    When every item of a larger batch fails alone too, the fault is not in the data (a broken
    model session, memory): the batch fails and is retried, rather than all of it dead-lettered.
    """
    documents = [p.document for p in pending if p.document is not None]
    try:
        return list(await asyncio.to_thread(enricher.analyse, documents))
    except Exception:
        log.exception("batch analysis failed; analysing its %d items one by one", len(documents))
    results: list[Any] = []
    for document in documents:
        try:
            results.extend(await asyncio.to_thread(enricher.analyse, [document]))
        except Exception as exc:
            results.append(exc)
    if len(results) > 1 and all(isinstance(r, Exception) for r in results):
        raise results[0]
    return results
