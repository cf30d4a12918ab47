"""The DB-backed send queue: claiming due deliveries under a lease, and recording attempts.

A claim sets `status = sending`, a fresh `lease_token`, `attempts + 1` and moves
`next_attempt_at` to the lease's end, in one transaction. A sender that dies mid-send leaves the
row as it is; once the lease has run out the row is due again and another claim retries it.
Results are recorded only by the holder of the current token, so a sender whose lease ran out
cannot overwrite a newer attempt. The one case that sends twice on the wire: a message that
reached the receiver, after which the sender died before recording it. The retry carries the
same idempotency key (webhook) and Message-ID (e-mail), so the receiver can drop it.
"""

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.db import is_postgres
from feedloop.notify.delivery.cap import take_cap_slots
from feedloop.notify.delivery.channels import Outgoing, SendResult
from feedloop.notify.delivery.outcomes import finish
from feedloop.notify.models import (
    customer_t,
    delivery_t,
    link_t,
    notification_t,
    preference_t,
)
from feedloop.notify.settings import NotifySettings
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def backoff_s(attempts: int, settings: NotifySettings, rng: random.Random | None = None) -> float:
    """Returns the delay before attempt `attempts + 1`: exponential, capped, equal jitter."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** max(0, attempts - 1))
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim produced: deliveries to send, and how many ended without sending."""

    outgoing: list[Outgoing]
    suppressed: dict[str, int]


async def claim(
    engine: AsyncEngine, *, limit: int, settings: NotifySettings, now: datetime
) -> Claimed:
    """Claims up to `limit` due deliveries; those that must not go out end here instead."""
    async with engine.begin() as conn:
        query = (
            select(delivery_t)
            .where(
                delivery_t.c.status.in_(("pending", "sending")),
                delivery_t.c.next_attempt_at <= now,
            )
            .order_by(delivery_t.c.next_attempt_at)
            .limit(limit)
        )
        if is_postgres(conn):
            query = query.with_for_update(skip_locked=True)
        due = list(await conn.execute(query))
        if not due:
            return Claimed([], {})
        customers = {
            row.id: row
            for row in await conn.execute(
                select(customer_t).where(customer_t.c.id.in_({d.customer_id for d in due}))
            )
        }
        opted_out = {
            (row.customer_id, row.channel)
            for row in await conn.execute(
                select(preference_t.c.customer_id, preference_t.c.channel).where(
                    preference_t.c.customer_id.in_({d.customer_id for d in due}),
                    preference_t.c.opted_out.is_(True),
                )
            )
        }
        ending: dict[str, list[Any]] = {"erased": [], "opted_out": [], "capped": []}
        abandoned: list[Any] = []
        sendable: list[Any] = []
        for delivery in due:
            customer = customers.get(delivery.customer_id)
            if delivery.attempts >= settings.max_attempts:
                # Its lease ran out on the last attempt: the sender died mid-send every time.
                abandoned.append(delivery)
            elif customer is not None and customer.erased_at is not None:
                ending["erased"].append(delivery)
            elif {(delivery.customer_id, delivery.channel), (delivery.customer_id, "all")} & (
                opted_out
            ):
                ending["opted_out"].append(delivery)
            elif delivery.channel == "email" and (customer is None or customer.email is None):
                ending["erased"].append(delivery)
            else:
                sendable.append(delivery)
        granted = await take_cap_slots(conn, sendable, settings=settings, now=now)
        ending["capped"] = [d for d in sendable if d.id not in granted]
        sendable = [d for d in sendable if d.id in granted]
        for outcome, rows in ending.items():
            await finish(conn, rows, outcome=outcome, settings=settings, now=now)
        await finish(
            conn,
            abandoned,
            outcome="failed",
            settings=settings,
            now=now,
            error=f"no result after {settings.max_attempts} attempts (lease expired)",
        )
        outgoing = await _lease(conn, sendable, customers, settings=settings, now=now)
    ending["failed"] = abandoned
    return Claimed(outgoing, {k: len(v) for k, v in ending.items() if v})


async def _lease(
    conn: AsyncConnection,
    rows: Sequence[Any],
    customers: dict[str, Any],
    *,
    settings: NotifySettings,
    now: datetime,
) -> list[Outgoing]:
    if not rows:
        return []
    lease_end = now + timedelta(seconds=settings.lease_s)
    feedback: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for item in await conn.execute(
        select(
            notification_t.c.delivery_id,
            link_t.c.feedback_id,
            link_t.c.external_id,
            link_t.c.source_system,
            link_t.c.channel,
        )
        .join(link_t, link_t.c.feedback_id == notification_t.c.feedback_id)
        .where(notification_t.c.delivery_id.in_(list(feedback)))
        .order_by(link_t.c.received_at)
    ):
        feedback[item.delivery_id].append(
            {
                "feedback_id": item.feedback_id,
                "external_id": item.external_id,
                "source_system": item.source_system,
                "channel": item.channel,
            }
        )
    # One token per claim: it tells this claim's attempts from any later one.
    token = uuid.uuid4().hex
    await conn.execute(
        update(delivery_t)
        .where(delivery_t.c.id.in_(list(feedback)))
        .values(
            status="sending",
            lease_token=token,
            attempts=delivery_t.c.attempts + 1,
            next_attempt_at=lease_end,
            updated_at=now,
        )
    )
    outgoing = []
    for row in rows:
        customer = customers.get(row.customer_id)
        outgoing.append(
            Outgoing(
                delivery_id=row.id,
                lease_token=token,
                kind=row.kind,
                round=row.round,
                channel=row.channel,
                customer_id=row.customer_id,
                issue_id=row.issue_id,
                source_system=row.source_system,
                attempts=row.attempts + 1,
                created_at=row.created_at,
                email=customer.email if customer else None,
                locale=customer.locale if customer else None,
                message=row.message,
                feedback=feedback[row.id],
            )
        )
    return outgoing


async def record(
    engine: AsyncEngine,
    results: Sequence[tuple[Outgoing, SendResult]],
    *,
    settings: NotifySettings,
    now: datetime,
) -> dict[str, list[tuple[Outgoing, SendResult]]]:
    """Records attempts (by lease holders only); returns them by what became of them."""
    by_verdict: dict[str, list[tuple[Outgoing, SendResult]]] = {
        "delivered": [],
        "retry": [],
        "failed": [],
        "stale": [],
    }
    async with engine.begin() as conn:
        tokens = {item.lease_token for item, _ in results}
        current = {
            row.id: row
            for row in await conn.execute(
                select(delivery_t).where(
                    delivery_t.c.lease_token.in_(tokens), delivery_t.c.status == "sending"
                )
            )
        }
        delivered: list[Any] = []
        for item, result in results:
            row = current.get(item.delivery_id)
            if row is None or row.lease_token != item.lease_token:
                by_verdict["stale"].append((item, result))
            elif result.verdict == "delivered":
                delivered.append(row)
                by_verdict["delivered"].append((item, result))
            elif result.verdict == "permanent" or row.attempts >= settings.max_attempts:
                await finish(
                    conn, [row], outcome="failed", settings=settings, now=now, error=result.error
                )
                by_verdict["failed"].append((item, result))
            else:
                delay = max(backoff_s(row.attempts, settings), result.retry_after_s or 0.0)
                delay = min(delay, settings.backoff_max_s)
                await conn.execute(
                    update(delivery_t)
                    .where(delivery_t.c.id == row.id)
                    .values(
                        status="pending",
                        lease_token=None,
                        next_attempt_at=now + timedelta(seconds=delay),
                        last_error=result.error,
                        updated_at=now,
                    )
                )
                by_verdict["retry"].append((item, result))
        await finish(conn, delivered, outcome="delivered", settings=settings, now=now)
    return by_verdict


async def release(engine: AsyncEngine, items: Sequence[Outgoing], *, now: datetime) -> None:
    """Gives back claimed deliveries that were never attempted: due now, the claim uncounted."""
    if not items:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(delivery_t)
            .where(
                delivery_t.c.id == bindparam("b_id"),
                delivery_t.c.lease_token == bindparam("b_token"),
                delivery_t.c.status == "sending",
            )
            .values(
                status="pending",
                lease_token=None,
                attempts=delivery_t.c.attempts - 1,
                next_attempt_at=now,
                updated_at=now,
            ),
            [{"b_id": item.delivery_id, "b_token": item.lease_token} for item in items],
        )


async def depth(engine: AsyncEngine) -> int:
    """Returns how many deliveries wait to be sent or are being sent."""
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(delivery_t)
            .where(or_(delivery_t.c.status == "pending", delivery_t.c.status == "sending"))
        )
    return int(count or 0)
