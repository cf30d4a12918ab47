"""The Kafka loop: `prioritized` into the store, poison records to `prioritized.dlq`."""

import logging
from collections.abc import Callable, Sequence

from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, PoisonRecord, decode
from feedloop.common.events import FeedbackPrioritized, IssueUpdated, utcnow
from feedloop.common.kafka import (
    BatchHandler,
    Emitter,
    Record,
    count,
    decode_or_dead_letter,
)
from feedloop.common.storable import unstorable
from feedloop.notify.intake.apply import Incoming, apply_batch
from feedloop.notify.models import customer_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
SERVICE = "notify"
_LOCALE_TYPE = customer_t.c.locale.type
MAX_LOCALE = _LOCALE_TYPE.length if isinstance(_LOCALE_TYPE, String) and _LOCALE_TYPE.length else 35


def storable_event(
    event: FeedbackPrioritized | IssueUpdated,
) -> FeedbackPrioritized | IssueUpdated:
    """Returns the event as notify can store it; raises PoisonRecord when it cannot be.

    An over-long locale is dropped rather than the feedback: the customer is still owed a
    message, in the default language (what a missing locale means), and no tag in use is
    that long. NUL characters and absurd numbers are refused.
    """
    problem = unstorable(event)
    if problem:
        raise PoisonRecord(DeadLetterReason.INVALID_PAYLOAD, f"not storable: {problem}")
    if isinstance(event, FeedbackPrioritized) and len(event.feedback.locale or "") > MAX_LOCALE:
        log.warning(
            "dropping a locale longer than %d characters",
            MAX_LOCALE,
            extra={"feedback_id": event.feedback.feedback_id},
        )
        feedback = event.feedback.model_copy(update={"locale": None})
        return event.model_copy(update={"feedback": feedback})
    return event


def prioritized_handler(
    *, engine: AsyncEngine, settings: NotifySettings, on_commit: Callable[[], None]
) -> BatchHandler:
    """Returns the batch handler of `prioritized`: poison to the DLQ, the rest in one commit."""
    topic = settings.topic(topics.PRIORITIZED)

    def incoming(record: Record) -> Incoming:
        envelope = decode(record.value, accept=[FeedbackPrioritized, IssueUpdated])
        event = storable_event(envelope.payload)
        return Incoming(
            event_id=envelope.event_id, correlation_id=envelope.correlation_id, event=event
        )

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        batch = await decode_or_dead_letter(
            records,
            emitter,
            decode=incoming,
            service=SERVICE,
            group_id=settings.consumer_group,
            dlq=settings.topic(topics.dlq_topic(topics.PRIORITIZED)),
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
