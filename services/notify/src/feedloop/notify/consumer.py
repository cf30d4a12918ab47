"""The Kafka loop: `prioritized` into the store, poison records to `prioritized.dlq`."""

import logging
from collections.abc import Callable, Sequence

from feedloop.common import topics
from feedloop.common.codec import PoisonRecord, decode
from feedloop.common.events import FeedbackPrioritized, IssueUpdated, utcnow
from feedloop.common.kafka import (
    BatchHandler,
    Emitter,
    Record,
    count,
    send_dead_letter,
)
from feedloop.notify.intake import Incoming, apply_batch
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
SERVICE = "notify"


def prioritized_handler(
    *, engine: AsyncEngine, settings: NotifySettings, on_commit: Callable[[], None]
) -> BatchHandler:
    """Returns the batch handler of `prioritized`: poison to the DLQ, the rest in one commit."""
    topic = settings.topic(topics.PRIORITIZED)

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        batch: list[Incoming] = []
        for record in records:
            try:
                envelope = decode(record.value, accept=[FeedbackPrioritized, IssueUpdated])
            except PoisonRecord as exc:
                await send_dead_letter(
                    emitter,
                    record,
                    reason=exc.reason,
                    detail=exc.detail,
                    service=SERVICE,
                    group_id=settings.consumer_group,
                    dlq=settings.topic(topics.dlq_topic(topics.PRIORITIZED)),
                )
                continue
            batch.append(
                Incoming(
                    event_id=envelope.event_id,
                    correlation_id=envelope.correlation_id,
                    event=envelope.payload,
                )
            )
        if not batch:
            return
        async with engine.begin() as conn:
            result = await apply_batch(conn, batch, settings=settings, now=utcnow())
        on_commit()
        count(SERVICE, topic, "processed", result.applied)
        count(SERVICE, topic, "duplicate", result.duplicates)
        count(SERVICE, topic, "stale", result.stale)

    return handle
