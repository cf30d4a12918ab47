"""The invitation table as the sender's outbox: claim due rows under a lease, record outcomes.

A claim commits before anything is sent, so a sender killed mid-batch leaves its rows claimed
until their lease ends; then any replica claims and sends them again under the same message
key, which receivers use to drop the copy. A (program, touchpoint) never has a second row.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from feedloop.common.db import insert_ignoring_conflicts, is_postgres
from feedloop.solicit.compose import Claimed
from feedloop.solicit.models import invitation_t, skip_t, touchpoint_t
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message."""

    claimed: Claimed
    result: Literal["sent", "retry", "failed", "skipped"]
    detail: str = ""
    reminder_after_s: float | None = None


def _due(now: datetime):  # type: ignore[no-untyped-def]
    inv = invitation_t.c
    first = and_(inv.stage == "scheduled", inv.due_at <= now)
    reminder = and_(inv.stage == "sent", inv.answered_at.is_(None), inv.reminder_due_at <= now)
    free = or_(inv.claimed_until.is_(None), inv.claimed_until < now)
    return and_(or_(first, reminder), free)


async def claim(
    conn: AsyncConnection, *, now: datetime, limit: int, lease_s: float
) -> list[Claimed]:
    """Claims up to `limit` due invitations or reminders for `lease_s` seconds."""
    inv, tp = invitation_t.c, touchpoint_t.c
    query = (
        select(
            inv.id,
            inv.program_id,
            inv.touchpoint_id,
            inv.customer_id,
            tp.source_system,
            inv.channel,
            inv.language,
            inv.stage,
            inv.attempts,
            inv.due_at,
            inv.expires_at,
            tp.details,
        )
        .join(touchpoint_t, tp.id == inv.touchpoint_id)
        .where(_due(now))
        .order_by(inv.due_at)
        .limit(limit)
    )
    if is_postgres(conn):
        query = query.with_for_update(of=invitation_t, skip_locked=True)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    await conn.execute(
        update(invitation_t)
        .where(inv.id.in_(ids))
        .values(claimed_until=now + timedelta(seconds=lease_s), attempts=inv.attempts + 1)
    )
    return [
        Claimed(
            id=r.id,
            program_id=r.program_id,
            touchpoint_id=r.touchpoint_id,
            customer_id=r.customer_id,
            source_system=r.source_system,
            channel=r.channel,
            language=r.language,
            stage=r.stage,
            attempts=r.attempts + 1,
            due_at=r.due_at,
            expires_at=r.expires_at or r.due_at,
            details=r.details,
        )
        for r in rows
    ]


def backoff_s(attempts: int, *, base_s: float, max_s: float) -> float:
    """Seconds before the next try after `attempts` failed ones (exponential, capped)."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


async def record(
    conn: AsyncConnection, outcome: Outcome, *, now: datetime, retry_at: datetime
) -> None:
    """Stores what became of one message; a retry keeps the claim until `retry_at`."""
    claimed, inv = outcome.claimed, invitation_t.c
    reminding = claimed.kind == "survey.reminder"
    mine = and_(inv.id == claimed.id, inv.stage == claimed.stage)
    if outcome.result == "sent" and reminding:
        values: dict[str, object] = {"stage": "reminded", "reminded_at": now}
    elif outcome.result == "sent":
        reminder = outcome.reminder_after_s
        values = {
            "stage": "sent",
            "sent_at": now,
            "attempts": 0,
            "reminder_due_at": now + timedelta(seconds=reminder) if reminder else None,
        }
    elif outcome.result == "retry":
        values = {"claimed_until": retry_at, "last_error": outcome.detail[:500]}
    elif reminding:  # a reminder that cannot go out: the invitation stays sent
        values = {"reminder_due_at": None, "last_error": outcome.detail[:500]}
    else:
        values = {"stage": outcome.result, "last_error": outcome.detail[:500]}
    if outcome.result != "retry":
        values["claimed_until"] = None
    await conn.execute(update(invitation_t).where(mine).values(**values))
    if outcome.result == "skipped" and not reminding:
        await insert_ignoring_conflicts(
            conn,
            skip_t,
            [
                {
                    "program_id": claimed.program_id,
                    "touchpoint_id": claimed.touchpoint_id,
                    "customer_id": claimed.customer_id,
                    "reason": outcome.detail,
                    "skipped_at": now,
                }
            ],
        )
