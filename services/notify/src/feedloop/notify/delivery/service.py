"""The logic behind the notification routes: reading notifications, and resending failed ones."""

from datetime import datetime
from typing import Any

from feedloop.common.errors import Conflict, NotFound
from feedloop.notify.models import delivery_t, notification_t
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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
    """Returns one notification; raises NotFound."""
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
        raise NotFound(f"no notification {notification_id!r}")
    return _read(row)


async def resend(*, conn: AsyncConnection, notification_id: str, now: datetime) -> dict[str, Any]:
    """Queues a failed notification's delivery again, with a fresh set of attempts."""
    current = await get_notification(conn=conn, notification_id=notification_id)
    delivery = (
        await conn.execute(select(delivery_t).where(delivery_t.c.id == current["delivery_id"]))
    ).one()
    if delivery.status != "done" or delivery.outcome != "failed":
        raise Conflict(
            f"only failed notifications can be resent; this one is "
            f"{delivery.outcome or delivery.status}",
            title="Not failed",
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
