"""The Kafka loops: `enriched` into the store (and outbox), `closed` into closure KPIs."""

import logging
import time
from collections.abc import Callable, Sequence

from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, PoisonRecord, decode
from feedloop.common.events import Contract, FeedbackClosed, FeedbackEnriched, utcnow
from feedloop.common.kafka import BatchHandler, Emitter, Record, count, decode_or_dead_letter
from feedloop.common.metrics import EVENT_LATENCY
from feedloop.common.storable import unstorable
from feedloop.prioritize.issues.assign import Incoming, store_batch
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
SERVICE = "prioritize"


def refuse_unstorable(payload: Contract) -> None:
    """Raises PoisonRecord for a value one of our databases would refuse (NUL, 1e308)."""
    problem = unstorable(payload)
    if problem:
        raise PoisonRecord(DeadLetterReason.INVALID_PAYLOAD, f"not storable: {problem}")


def enriched_handler(
    *, engine: AsyncEngine, settings: PrioritizeSettings, on_commit: Callable[[], None]
) -> BatchHandler:
    """Returns the batch handler of `enriched`: poison to the DLQ, the rest in one DB commit."""
    topic = settings.topic(topics.ENRICHED)

    def incoming(record: Record) -> Incoming:
        envelope = decode(record.value, accept=[FeedbackEnriched])
        refuse_unstorable(envelope.payload)
        return Incoming(
            event=envelope.payload,
            correlation_id=envelope.correlation_id,
            event_id=envelope.event_id,
            enriched_at=envelope.occurred_at,
        )

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        group, dlq = settings.consumer_group, settings.topic(topics.dlq_topic(topics.ENRICHED))
        batch = await decode_or_dead_letter(
            records, emitter, decode=incoming, service=SERVICE, group_id=group, dlq=dlq
        )
        if not batch:
            return
        started = time.time()
        async with engine.begin() as conn:
            result = await store_batch(conn=conn, batch=batch, settings=settings, now=utcnow())
        on_commit()
        count(SERVICE, topic, "processed", result.stored)
        count(SERVICE, topic, "duplicate", result.duplicates)
        for inc in batch:
            EVENT_LATENCY.labels(SERVICE, topic).observe(
                max(0.0, started - inc.event.received_at.timestamp())
            )
        if result.reopened:
            log.warning("regression: issues reopened", extra={"issues": result.reopened})

    return handle


def closed_handler(*, engine: AsyncEngine, settings: PrioritizeSettings) -> BatchHandler:
    """Returns the batch handler of `closed`: records closure time and outcome per feedback."""
    topic = settings.topic(topics.CLOSED)

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        del emitter
        closures: list[FeedbackClosed] = []
        for record in records:
            try:
                closure = decode(record.value, accept=[FeedbackClosed]).payload
                refuse_unstorable(closure)
                closures.append(closure)
            except PoisonRecord as exc:
                # Only a KPI is lost; the closed topic has no DLQ of ours. Logged and counted.
                log.warning("skipping an unreadable closed record: %s", exc)
                count(SERVICE, topic, "skipped")
        if not closures:
            return
        async with engine.begin() as conn:
            for closed in closures:
                await conn.execute(
                    update(feedback_t)
                    .where(feedback_t.c.id == closed.feedback_id, feedback_t.c.closed_at.is_(None))
                    .values(
                        closed_at=closed.closed_at,
                        time_to_close_s=closed.time_to_close_seconds,
                        close_outcome=closed.outcome,
                    )
                )
        count(SERVICE, topic, "processed", len(closures))

    return handle
