"""Notify's retention: processed event ids and daily-cap counters pruned once of no use.

`processed_event` only needs to outlive the redelivery window of `prioritized` (its topic
retention, 7 days), and a cap counter is read only on its own UTC day; before this job both
grew forever. Each customer's counters name them, so pruning them is also minimisation.
"""

from datetime import datetime, timedelta

from feedloop.common.events import utcnow
from feedloop.common.retention import retention_step
from feedloop.common.shell import Step
from feedloop.notify.models import cap_t, processed_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE = "notify"


async def prune(*, engine: AsyncEngine, settings: NotifySettings, now: datetime) -> dict[str, int]:
    """Deletes processed event ids and cap counters older than their retention."""
    processed_before = now - timedelta(days=settings.retention_processed_days)
    caps_before = (now - timedelta(days=settings.retention_caps_days)).date().isoformat()
    async with engine.begin() as conn:
        processed = await conn.execute(
            delete(processed_t).where(processed_t.c.processed_at < processed_before)
        )
        caps = await conn.execute(delete(cap_t).where(cap_t.c.day < caps_before))
    return {"processed_event": processed.rowcount or 0, "cap_counter": caps.rowcount or 0}


def step(engine: AsyncEngine, settings: NotifySettings) -> Step:
    """The lifespan step running notify's retention job."""

    async def run() -> dict[str, int]:
        return await prune(engine=engine, settings=settings, now=utcnow())

    return retention_step(SERVICE, run, every_s=settings.retention_prune_s)
