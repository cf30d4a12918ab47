"""The daily cap: how many messages a customer gets per UTC day, reserved at claim time."""

from collections.abc import Sequence
from datetime import datetime

from feedloop.common.db import insert_ignoring_conflicts, is_postgres
from feedloop.notify.models import cap_t, delivery_t
from feedloop.notify.rows import DeliveryRow
from feedloop.notify.settings import NotifySettings
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def take_cap_slots(
    conn: AsyncConnection,
    deliveries: Sequence[DeliveryRow],
    *,
    settings: NotifySettings,
    now: datetime,
) -> set[str]:
    """Reserves today's slots of the deliveries' customers; returns the ids that may go out.

    A delivery keeps its slot across retries; new ones get slots in the order given while the
    customer has some left.
    """
    wanting = [d for d in deliveries if d.cap_day is None]
    granted = {d.id for d in deliveries if d.cap_day is not None}
    if settings.daily_cap is None:
        return granted | {d.id for d in wanting}
    if not wanting:
        return granted
    day = now.date().isoformat()
    customers = sorted({d.customer_id for d in wanting})
    await insert_ignoring_conflicts(
        conn, cap_t, [{"customer_id": c, "day": day, "sent": 0} for c in customers]
    )
    query = (
        select(cap_t.c.customer_id, cap_t.c.sent)
        .where(cap_t.c.customer_id.in_(customers), cap_t.c.day == day)
        .order_by(cap_t.c.customer_id)
    )
    if is_postgres(conn):
        # Row locks (in one order: no deadlocks between claims) keep concurrent senders from
        # exceeding the cap together; SQLite's write transaction already excludes them.
        query = query.with_for_update()
    sent = {row.customer_id: row.sent for row in await conn.execute(query)}
    taken: dict[str, int] = {}
    for delivery in wanting:
        if sent[delivery.customer_id] < settings.daily_cap:
            sent[delivery.customer_id] += 1
            taken[delivery.customer_id] = sent[delivery.customer_id]
            granted.add(delivery.id)
    if taken:
        await conn.execute(
            update(cap_t)
            .where(cap_t.c.customer_id == bindparam("b_customer"), cap_t.c.day == day)
            .values(sent=bindparam("b_sent")),
            [{"b_customer": c, "b_sent": n} for c, n in taken.items()],
        )
        mine = [d.id for d in wanting if d.id in granted]
        await conn.execute(update(delivery_t).where(delivery_t.c.id.in_(mine)).values(cap_day=day))
    return granted
