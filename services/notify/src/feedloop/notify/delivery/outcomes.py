"""Ending a delivery: its notifications get their outcome, resolved feedback its `feedback.closed`.

Everything here runs inside the caller's transaction, so the outcome, the closed events and the
dead letters become durable together (the outbox relays them to Kafka afterwards).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, OutgoingRecord
from feedloop.common.events import FeedbackClosed, deterministic_id
from feedloop.common.outbox import outbox_row, record_row, write
from feedloop.notify.models import cap_t, delivery_t, link_t, notification_t, outbox_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

SERVICE: Final = "notify"
# Outcomes that end a notification; "superseded": an acknowledgement overtaken by the fix.
CLOSING_OUTCOMES: Final = frozenset(
    {"delivered", "opted_out", "erased", "capped", "no_channel", "failed"}
)


def closed_event_id(feedback_id: str) -> str:
    """Returns the deterministic id of a feedback item's one `feedback.closed` event."""
    return deterministic_id("feedback.closed", feedback_id)


async def finish(
    conn: AsyncConnection,
    deliveries: Sequence[Any],
    *,
    outcome: str,
    settings: NotifySettings,
    now: datetime,
    error: str | None = None,
) -> None:
    """Ends deliveries (rows of `delivery`) with one outcome and closes their notifications."""
    if not deliveries:
        return
    ids = [d.id for d in deliveries]
    values: dict[str, Any] = {
        "status": "done",
        "outcome": outcome,
        "lease_token": None,
        "updated_at": now,
    }
    if outcome == "delivered":
        values["delivered_at"] = now
        values["last_error"] = None
    if outcome == "failed":
        values["failed_at"] = now
        values["last_error"] = error
    await conn.execute(update(delivery_t).where(delivery_t.c.id.in_(ids)).values(**values))
    if outcome != "delivered":
        await release_cap_slots(conn, [d for d in deliveries if d.cap_day])
    if outcome == "failed":
        await write(
            conn, outbox_t, [dead_letter_row(d, error or "", settings, now) for d in deliveries]
        )
    delivered_at = now if outcome == "delivered" else None
    await close_notifications(
        conn, deliveries, outcome=outcome, delivered_at=delivered_at, settings=settings, now=now
    )


async def close_notifications(
    conn: AsyncConnection,
    deliveries: Sequence[Any],
    *,
    outcome: str,
    delivered_at: datetime | None,
    settings: NotifySettings,
    now: datetime,
) -> None:
    """Gives deliveries' open notifications their outcome; resolutions close their feedback."""
    by_id = {d.id: d for d in deliveries}
    open_ = list(
        (
            await conn.execute(
                select(
                    notification_t.c.id, notification_t.c.feedback_id, notification_t.c.delivery_id
                ).where(
                    notification_t.c.delivery_id.in_(list(by_id)),
                    notification_t.c.outcome.is_(None),
                )
            )
        ).all()
    )
    if not open_:
        return
    await conn.execute(
        update(notification_t)
        .where(notification_t.c.id.in_([n.id for n in open_]))
        .values(outcome=outcome, closed_at=now)
    )
    if outcome not in CLOSING_OUTCOMES:
        return
    delivery_of = {
        n.feedback_id: by_id[n.delivery_id]
        for n in open_
        if by_id[n.delivery_id].kind == "resolution"
    }
    if not delivery_of:
        return
    # A resent notification's feedback was closed (as failed) already: closed once, ever.
    links = list(
        (
            await conn.execute(
                select(link_t).where(
                    link_t.c.feedback_id.in_(list(delivery_of)),
                    link_t.c.closed_at.is_(None),
                )
            )
        ).all()
    )
    if not links:
        return
    await conn.execute(
        update(link_t)
        .where(link_t.c.feedback_id.in_([link.feedback_id for link in links]))
        .values(closed_at=now, close_outcome=outcome)
    )
    rows = []
    for link in links:
        delivery = delivery_of[link.feedback_id]
        rows.append(
            outbox_row(
                FeedbackClosed(
                    feedback_id=link.feedback_id,
                    issue_id=delivery.issue_id,
                    customer_id=delivery.customer_id,
                    channel=delivery.channel,
                    outcome=outcome,
                    delivered_at=(
                        (delivered_at or delivery.delivered_at) if outcome == "delivered" else None
                    ),
                    closed_at=now,
                    time_to_close_seconds=max(0.0, (now - link.received_at).total_seconds()),
                ),
                event_id=closed_event_id(link.feedback_id),
                key=delivery.issue_id,
                correlation_id=link.correlation_id,
                prefix=settings.kafka_topic_prefix,
                now=now,
                producer=SERVICE,
            )
        )
    await write(conn, outbox_t, rows)


async def release_cap_slots(conn: AsyncConnection, deliveries: Sequence[Any]) -> None:
    """Gives back the daily-cap slots of deliveries that did not reach the customer."""
    for delivery in deliveries:
        await conn.execute(
            update(cap_t)
            .where(
                cap_t.c.customer_id == delivery.customer_id,
                cap_t.c.day == delivery.cap_day,
                cap_t.c.sent > 0,
            )
            .values(sent=cap_t.c.sent - 1)
        )
        await conn.execute(
            update(delivery_t).where(delivery_t.c.id == delivery.id).values(cap_day=None)
        )


def dead_letter_row(
    delivery: Any, error: str, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """Returns the outbox row of a failed delivery's record on `notifications.dlq`."""
    event_id = deterministic_id("notification.failed", delivery.id, str(delivery.attempts))
    body = {
        "delivery_id": delivery.id,
        "customer_id": delivery.customer_id,
        "issue_id": delivery.issue_id,
        "kind": delivery.kind,
        "round": delivery.round,
        "channel": delivery.channel,
        "source_system": delivery.source_system,
        "attempts": delivery.attempts,
        "error": error,
        "failed_at": now.isoformat(),
    }
    headers = [
        (topics.HEADER_ID, event_id.encode()),
        (topics.HEADER_TYPE, b"notification.failed"),
        (topics.HEADER_SOURCE, SERVICE.encode()),
        (topics.HEADER_TIME, now.isoformat().encode()),
        (topics.HEADER_CONTENT_TYPE, b"application/json"),
        (topics.HEADER_DLQ_REASON, str(DeadLetterReason.DELIVERY_FAILED).encode()),
        (topics.HEADER_DLQ_ERROR, error[:4000].encode()),
        (topics.HEADER_DLQ_CONSUMER_GROUP, settings.consumer_group.encode()),
        (topics.HEADER_DLQ_FAILED_AT, now.isoformat().encode()),
    ]
    record = OutgoingRecord(
        topic=settings.topic(topics.NOTIFICATIONS_DLQ),
        key=delivery.issue_id.encode(),
        value=orjson.dumps(body),
        headers=headers,
    )
    return record_row(record, event_id=event_id, now=now)
