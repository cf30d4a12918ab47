"""The logic behind the API: reading notifications, preferences, resend and erasure."""

from datetime import datetime
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.problems import Problem
from feedloop.notify.models import (
    cap_t,
    customer_t,
    delivery_t,
    notification_t,
    preference_t,
)
from feedloop.notify.outcomes import finish
from feedloop.notify.settings import NotifySettings
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNELS = ("webhook", "email", "all")

_COLUMNS = [
    notification_t.c.id,
    notification_t.c.feedback_id,
    notification_t.c.kind,
    notification_t.c.issue_id,
    notification_t.c.customer_id,
    notification_t.c.delivery_id,
    delivery_t.c.channel,
    delivery_t.c.status,
    func.coalesce(notification_t.c.outcome, delivery_t.c.outcome).label("outcome"),
    delivery_t.c.attempts,
    delivery_t.c.resends,
    delivery_t.c.last_error,
    delivery_t.c.next_attempt_at,
    notification_t.c.created_at,
    delivery_t.c.delivered_at,
    delivery_t.c.failed_at,
    notification_t.c.closed_at,
]


def _read(row: Any) -> dict[str, Any]:
    item = dict(row._mapping)
    if item["status"] == "done":
        item["next_attempt_at"] = None
    return item


async def list_notifications(
    *,
    conn: AsyncConnection,
    feedback_id: str | None = None,
    customer_id: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Returns a page of notifications matching the filters, newest first, and the total."""
    where: list[ColumnElement[bool]] = []
    if feedback_id is not None:
        where.append(notification_t.c.feedback_id == feedback_id)
    if customer_id is not None:
        where.append(notification_t.c.customer_id == customer_id)
    if kind is not None:
        where.append(notification_t.c.kind == kind)
    if outcome is not None:
        where.append(func.coalesce(notification_t.c.outcome, delivery_t.c.outcome) == outcome)
    joined = notification_t.join(delivery_t, delivery_t.c.id == notification_t.c.delivery_id)
    total = await conn.scalar(select(func.count()).select_from(joined).where(*where))
    rows = await conn.execute(
        select(*_COLUMNS)
        .select_from(joined)
        .where(*where)
        .order_by(notification_t.c.created_at.desc(), notification_t.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_read(row) for row in rows], int(total or 0)


async def get_notification(*, conn: AsyncConnection, notification_id: str) -> dict[str, Any]:
    """Returns one notification, or raises 404."""
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .select_from(
                notification_t.join(delivery_t, delivery_t.c.id == notification_t.c.delivery_id)
            )
            .where(notification_t.c.id == notification_id)
        )
    ).first()
    if row is None:
        raise Problem(404, "Not found", f"no notification {notification_id!r}")
    return _read(row)


async def resend(*, conn: AsyncConnection, notification_id: str, now: datetime) -> dict[str, Any]:
    """Queues a failed notification's delivery again, with a fresh set of attempts."""
    current = await get_notification(conn=conn, notification_id=notification_id)
    delivery = (
        await conn.execute(select(delivery_t).where(delivery_t.c.id == current["delivery_id"]))
    ).one()
    if delivery.status != "done" or delivery.outcome != "failed":
        raise Problem(
            409,
            "Not failed",
            f"only failed notifications can be resent; this one is "
            f"{delivery.outcome or delivery.status}",
            outcome=delivery.outcome,
        )
    await conn.execute(
        update(delivery_t)
        .where(delivery_t.c.id == delivery.id, delivery_t.c.outcome == "failed")
        .values(
            status="pending",
            outcome=None,
            attempts=0,
            resends=delivery.resends + 1,
            next_attempt_at=now,
            failed_at=None,
            updated_at=now,
        )
    )
    # Reopened, so that the new attempts' outcome shows; `feedback.closed` went out already.
    await conn.execute(
        update(notification_t)
        .where(notification_t.c.delivery_id == delivery.id)
        .values(outcome=None)
    )
    return await get_notification(conn=conn, notification_id=notification_id)


async def get_preferences(*, conn: AsyncConnection, customer_id: str) -> dict[str, Any]:
    """Returns a customer's opt-outs (every channel, false when never set)."""
    rows = await conn.execute(
        select(preference_t.c.channel, preference_t.c.opted_out).where(
            preference_t.c.customer_id == customer_id
        )
    )
    opted = dict.fromkeys(CHANNELS, False) | {row.channel: row.opted_out for row in rows}
    erased = await conn.scalar(select(customer_t.c.erased_at).where(customer_t.c.id == customer_id))
    return {"customer_id": customer_id, "opted_out": opted, "erased": erased is not None}


async def set_preferences(
    *, conn: AsyncConnection, customer_id: str, opted_out: dict[str, bool], now: datetime
) -> dict[str, Any]:
    """Sets opt-outs; they apply to every message not yet on its way."""
    for channel, value in opted_out.items():
        await insert_ignoring_conflicts(
            conn,
            preference_t,
            [
                {
                    "customer_id": customer_id,
                    "channel": channel,
                    "opted_out": value,
                    "updated_at": now,
                }
            ],
        )
        await conn.execute(
            update(preference_t)
            .where(preference_t.c.customer_id == customer_id, preference_t.c.channel == channel)
            .values(opted_out=value, updated_at=now)
        )
    return await get_preferences(conn=conn, customer_id=customer_id)


async def erase(
    *, conn: AsyncConnection, customer_id: str, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """Deletes a customer's contact data and ends every message still owed to them."""
    await insert_ignoring_conflicts(
        conn,
        customer_t,
        [{"id": customer_id, "email": None, "locale": None, "erased_at": now, "updated_at": now}],
    )
    await conn.execute(
        update(customer_t)
        .where(customer_t.c.id == customer_id)
        .values(
            email=None,
            locale=None,
            erased_at=func.coalesce(customer_t.c.erased_at, now),
            updated_at=now,
        )
    )
    waiting = list(
        await conn.execute(
            select(delivery_t).where(
                delivery_t.c.customer_id == customer_id, delivery_t.c.status != "done"
            )
        )
    )
    await finish(conn, waiting, outcome="erased", settings=settings, now=now)
    await conn.execute(delete(preference_t).where(preference_t.c.customer_id == customer_id))
    await conn.execute(delete(cap_t).where(cap_t.c.customer_id == customer_id))
    erased_at = await conn.scalar(
        select(customer_t.c.erased_at).where(customer_t.c.id == customer_id)
    )
    return {
        "customer_id": customer_id,
        "erased_at": erased_at,
        "cancelled_deliveries": len(waiting),
    }
