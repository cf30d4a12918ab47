"""Prioritize's retention: feedback text and contact data stripped once past their purpose.

A feedback row older than `retention_feedback_days` keeps what KPIs, issue counts and
priorities read (scores, sentiment, themes, dates, customer id, segment) and loses what quotes
or reaches the customer: its text, the evidence sentences, the e-mail and the source item's id
(rights.anonymised_ref / anonymised_enrichment, as an erasure does, but keeping the id).
Deleting the rows would rewrite past KPIs; stripping them keeps the history's numbers.
"""

from datetime import datetime, timedelta
from typing import Any

from feedloop.common.events import utcnow
from feedloop.common.retention import retention_step
from feedloop.common.shell import Step
from feedloop.prioritize.consumer import SERVICE
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.rights import anonymised_enrichment
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

BATCH = 1000


def stripped_ref(ref: dict[str, Any]) -> dict[str, Any]:
    """A stored FeedbackRef without the e-mail and the source item's id (pure)."""
    customer = {k: v for k, v in (ref.get("customer") or {}).items() if k != "email"}
    return ref | {"customer": customer, "external_id": "expired"}


async def prune(
    *, engine: AsyncEngine, settings: PrioritizeSettings, now: datetime
) -> dict[str, int]:
    """Strips up to BATCH feedback rows older than the retention; returns how many."""
    if settings.retention_feedback_days is None:
        return {"feedback": 0}
    before = now - timedelta(days=settings.retention_feedback_days)
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(feedback_t.c.id, feedback_t.c.ref, feedback_t.c.enrichment)
                .where(feedback_t.c.received_at < before, feedback_t.c.text != "")
                .limit(BATCH)
            )
        ).all()
        for row in rows:
            await conn.execute(
                update(feedback_t)
                .where(feedback_t.c.id == row.id)
                .values(
                    text="",
                    ref=stripped_ref(row.ref),
                    enrichment=anonymised_enrichment(row.enrichment),
                )
            )
    return {"feedback": len(rows)}


def step(engine: AsyncEngine, settings: PrioritizeSettings) -> Step:
    """The lifespan step running prioritize's retention job."""

    async def run() -> dict[str, int]:
        return await prune(engine=engine, settings=settings, now=utcnow())

    return retention_step(SERVICE, run, every_s=settings.retention_prune_s)
