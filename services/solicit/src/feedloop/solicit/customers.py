"""Consent: who may not be asked (opted out, erased), kept as hashes of customer ids."""

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from feedloop.common.db import insert_ignoring_conflicts, is_postgres
from feedloop.solicit.models import (
    answer_t,
    blocked_t,
    invitation_t,
    skip_t,
    touchpoint_t,
)
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

Block = Literal["erased", "opted_out"]


def customer_hash(customer_id: str) -> str:
    """The only trace of a blocked customer we keep."""
    return hashlib.sha256(f"feedloop.solicit/{customer_id}".encode()).hexdigest()


async def blocks_of(conn: AsyncConnection, customer_ids: Iterable[str]) -> dict[str, Block]:
    """Blocked customers among these ids, with why."""
    by_hash = {customer_hash(c): c for c in set(customer_ids)}
    if not by_hash:
        return {}
    rows = await conn.execute(
        select(blocked_t.c.customer_hash, blocked_t.c.reason).where(
            blocked_t.c.customer_hash.in_(list(by_hash))
        )
    )
    return {by_hash[h]: reason for h, reason in rows.all()}


async def opt_out(*, conn: AsyncConnection, customer_id: str, now: datetime) -> None:
    """Records an opt-out (an erased customer stays erased)."""
    await insert_ignoring_conflicts(
        conn,
        blocked_t,
        [{"customer_hash": customer_hash(customer_id), "reason": "opted_out", "blocked_at": now}],
    )


async def erase(*, conn: AsyncConnection, customer_id: str, now: datetime) -> int:
    """Deletes a customer's touchpoints, invitations, skips and answers; blocks the id for good.

    Returns how many invitations were deleted.
    """
    row = {"customer_hash": customer_hash(customer_id), "reason": "erased", "blocked_at": now}
    dialect_insert = pg_insert if is_postgres(conn) else sqlite_insert
    upsert = dialect_insert(blocked_t).values(row)
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[blocked_t.c.customer_hash],
            set_={"reason": "erased", "blocked_at": now},
        )
    )
    invitations = select(invitation_t.c.id).where(invitation_t.c.customer_id == customer_id)
    await conn.execute(delete(answer_t).where(answer_t.c.invitation_id.in_(invitations)))
    deleted = await conn.execute(
        delete(invitation_t).where(invitation_t.c.customer_id == customer_id)
    )
    await conn.execute(delete(skip_t).where(skip_t.c.customer_id == customer_id))
    await conn.execute(delete(touchpoint_t).where(touchpoint_t.c.customer_id == customer_id))
    return deleted.rowcount or 0


async def withdraw_pending(*, conn: AsyncConnection, customer_id: str, now: datetime) -> None:
    """An opted-out customer's invitations not yet sent are skipped (the reason recorded)."""
    pending = await conn.execute(
        select(invitation_t.c.program_id, invitation_t.c.touchpoint_id).where(
            invitation_t.c.customer_id == customer_id, invitation_t.c.stage == "scheduled"
        )
    )
    rows = [
        {
            "program_id": p,
            "touchpoint_id": t,
            "customer_id": customer_id,
            "reason": "opted_out",
            "skipped_at": now,
        }
        for p, t in pending.all()
    ]
    await insert_ignoring_conflicts(conn, skip_t, rows)
    await conn.execute(
        update(invitation_t)
        .where(invitation_t.c.customer_id == customer_id, invitation_t.c.stage == "scheduled")
        .values(stage="skipped", last_error="opted_out")
    )
