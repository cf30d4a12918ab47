"""The logic behind the customer routes: opt-outs and erasure."""

from datetime import datetime
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.notify.delivery.outcomes import finish
from feedloop.notify.models import cap_t, customer_t, delivery_t, preference_t
from feedloop.notify.rows import load_deliveries
from feedloop.notify.settings import NotifySettings
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNELS = ("webhook", "email", "all")


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
    waiting = await load_deliveries(
        conn,
        select(delivery_t).where(
            delivery_t.c.customer_id == customer_id, delivery_t.c.status != "done"
        ),
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
