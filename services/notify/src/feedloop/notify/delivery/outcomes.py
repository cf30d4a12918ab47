"""Ending a delivery: its notifications get their outcome, resolved feedback its `feedback.closed`.

Everything here runs inside the caller's transaction, so the outcome, the closed events and the
dead letters become durable together (the outbox relays them to Kafka afterwards).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason
from feedloop.common.dlq import NOTIFICATION_FAILED, NotificationFailed, failure_record
from feedloop.common.events import FeedbackClosed, deterministic_id
from feedloop.common.outbox import outbox_row, record_row, write
from feedloop.notify.models import cap_t, delivery_t, link_t, notification_t, outbox_t
from feedloop.notify.rows import DeliveryRow
from feedloop.notify.settings import NotifySettings
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

SERVICE: Final = "notify"
# Outcomes that end a notification; "superseded": an acknowledgement overtaken by the fix.
CLOSING_OUTCOMES: Final = frozenset(
    {"delivered", "opted_out", "erased", "capped", "no_channel", "failed", "noted"}
)
# Notification kinds that close their feedback item's loop (an acknowledgement does not).
CLOSING_KINDS: Final = ("resolution", "answer", "thanks", "note")
_DELIVERED_AS: Final = {"resolution": "resolved", "answer": "answered", "thanks": "thanked"}


def loop_outcome(kind: str, outcome: str) -> str:
    """How a loop closed by a delivery of `kind` ending with `outcome` ended (LoopOutcome).

    A thank-you the daily cap held back was policy, not a failure: noted.
    """
    if outcome == "delivered":
        return _DELIVERED_AS.get(kind, "resolved")
    if outcome == "capped" and kind in ("thanks", "note"):
        return "noted"
    if outcome in ("failed", "capped"):
        return "undeliverable"
    return outcome


@dataclass(frozen=True, slots=True)
class OpenNotification:
    """A notification of an ending delivery that has no outcome yet."""

    id: str
    feedback_id: str
    delivery_id: str


@dataclass(frozen=True, slots=True)
class ClosingLink:
    """A resolved feedback item whose loop closes now (the columns its event needs)."""

    feedback_id: str
    correlation_id: str
    received_at: datetime
    kind: str | None = None


def closed_event_id(feedback_id: str) -> str:
    """Returns the deterministic id of a feedback item's one `feedback.closed` event."""
    return deterministic_id("feedback.closed", feedback_id)


async def finish(
    conn: AsyncConnection,
    deliveries: Sequence[DeliveryRow],
    *,
    outcome: str,
    settings: NotifySettings,
    now: datetime,
    error: str | None = None,
) -> None:
    """Ends deliveries with one outcome and closes their notifications."""
    if not deliveries:
        return
    ids = [d.id for d in deliveries]
    await conn.execute(
        update(delivery_t)
        .where(delivery_t.c.id.in_(ids))
        .values(**ended_values(outcome, error=error, now=now))
    )
    if outcome != "delivered":
        await release_cap_slots(conn, [d for d in deliveries if d.cap_day])
    if outcome == "failed":
        await write(
            conn,
            outbox_t,
            [dead_letter_row(d, error=error or "", settings=settings, now=now) for d in deliveries],
        )
    delivered_at = now if outcome == "delivered" else None
    await close_notifications(
        conn, deliveries, outcome=outcome, delivered_at=delivered_at, settings=settings, now=now
    )


def ended_values(outcome: str, *, error: str | None, now: datetime) -> dict[str, Any]:
    """Returns the column values of a delivery that ends with `outcome`."""
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
    return values


async def close_notifications(
    conn: AsyncConnection,
    deliveries: Sequence[DeliveryRow],
    *,
    outcome: str,
    delivered_at: datetime | None,
    settings: NotifySettings,
    now: datetime,
) -> None:
    """Gives deliveries' open notifications their outcome; resolutions close their feedback."""
    by_id = {d.id: d for d in deliveries}
    open_ = await _open_notifications(conn, list(by_id))
    if not open_:
        return
    await conn.execute(
        update(notification_t)
        .where(notification_t.c.id.in_([n.id for n in open_]))
        .values(outcome=outcome, closed_at=now)
    )
    if outcome not in CLOSING_OUTCOMES:
        return
    delivery_of = resolutions_of(open_, by_id)
    links = await _close_links(conn, list(delivery_of), outcome=outcome, now=now)
    rows = [
        outbox_row(
            closed_event(
                link,
                delivery_of[link.feedback_id],
                outcome=outcome,
                delivered_at=delivered_at,
                now=now,
            ),
            event_id=closed_event_id(link.feedback_id),
            key=delivery_of[link.feedback_id].issue_id,
            correlation_id=link.correlation_id,
            prefix=settings.kafka_topic_prefix,
            now=now,
            producer=SERVICE,
        )
        for link in links
    ]
    await write(conn, outbox_t, rows)


async def _open_notifications(
    conn: AsyncConnection, delivery_ids: list[str]
) -> list[OpenNotification]:
    rows = await conn.execute(
        select(
            notification_t.c.id, notification_t.c.feedback_id, notification_t.c.delivery_id
        ).where(
            notification_t.c.delivery_id.in_(delivery_ids),
            notification_t.c.outcome.is_(None),
        )
    )
    return [OpenNotification(row.id, row.feedback_id, row.delivery_id) for row in rows]


def resolutions_of(
    open_: Sequence[OpenNotification], by_id: dict[str, DeliveryRow]
) -> dict[str, DeliveryRow]:
    """Returns the resolution deliveries of the notifications, by feedback id."""
    return {
        n.feedback_id: by_id[n.delivery_id]
        for n in open_
        if by_id[n.delivery_id].kind in CLOSING_KINDS
    }


async def _close_links(
    conn: AsyncConnection, feedback_ids: list[str], *, outcome: str, now: datetime
) -> list[ClosingLink]:
    """Closes the feedback items still open among `feedback_ids`; returns them."""
    if not feedback_ids:
        return []
    # A resent notification's feedback was closed (as failed) already: closed once, ever.
    links = [
        ClosingLink(row.feedback_id, row.correlation_id, row.received_at, row.kind)
        for row in await conn.execute(
            select(
                link_t.c.feedback_id, link_t.c.correlation_id, link_t.c.received_at, link_t.c.kind
            ).where(
                link_t.c.feedback_id.in_(feedback_ids),
                link_t.c.closed_at.is_(None),
            )
        )
    ]
    if links:
        await conn.execute(
            update(link_t)
            .where(link_t.c.feedback_id.in_([link.feedback_id for link in links]))
            .values(closed_at=now, close_outcome=outcome)
        )
    return links


def closed_event(
    link: ClosingLink,
    delivery: DeliveryRow,
    *,
    outcome: str,
    delivered_at: datetime | None,
    now: datetime,
) -> FeedbackClosed:
    """Returns the `feedback.closed` event of a feedback item whose loop closes now."""
    return FeedbackClosed(
        feedback_id=link.feedback_id,
        issue_id=delivery.issue_id,
        customer_id=delivery.customer_id,
        channel=delivery.channel,
        outcome=outcome,
        delivered_at=(delivered_at or delivery.delivered_at) if outcome == "delivered" else None,
        closed_at=now,
        time_to_close_seconds=max(0.0, (now - link.received_at).total_seconds()),
        loop_outcome=loop_outcome(delivery.kind, outcome),
        kind=link.kind or "complaint",
    )


async def release_cap_slots(conn: AsyncConnection, deliveries: Sequence[DeliveryRow]) -> None:
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
    delivery: DeliveryRow, *, error: str, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """Returns the outbox row of a failed delivery's `notification.failed` dead letter."""
    event_id = deterministic_id(NOTIFICATION_FAILED, delivery.id, str(delivery.attempts))
    body = NotificationFailed(
        delivery_id=delivery.id,
        customer_id=delivery.customer_id,
        issue_id=delivery.issue_id,
        kind=delivery.kind,
        round=delivery.round,
        channel=delivery.channel,
        source_system=delivery.source_system,
        attempts=delivery.attempts,
        error=error,
        failed_at=now.isoformat(),
    )
    record = failure_record(
        NOTIFICATION_FAILED,
        body,
        event_id=event_id,
        topic=settings.topic(topics.NOTIFICATIONS_DLQ),
        key=delivery.issue_id,
        source=SERVICE,
        reason=DeadLetterReason.DELIVERY_FAILED,
        error=error,
        group_id=settings.consumer_group,
        failed_at=now,
    )
    return record_row(record, event_id=event_id, now=now)
