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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from feedloop.common.db import is_postgres
from feedloop.notify.delivery.cap import take_cap_slots
from feedloop.notify.delivery.channels import FeedbackRef, Outgoing, SendResult
from feedloop.notify.delivery.outcomes import finish
from feedloop.notify.models import (
    delivery_t,
    link_t,
    notification_t,
    preference_t,
)
from feedloop.notify.rows import (
    CustomerRow,
    DeliveryRow,
    load_customers,
    load_deliveries,
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


@dataclass(slots=True)
class Triage:
    """Due deliveries sorted by what becomes of them at claim time."""

    sendable: list[DeliveryRow] = field(default_factory=list)
    # Ended without sending, by outcome: erased, opted_out, capped, noted (a quiet note).
    ending: dict[str, list[DeliveryRow]] = field(
        default_factory=lambda: {"erased": [], "opted_out": [], "capped": [], "noted": []}
    )
    # Its lease ran out on the last attempt: the sender died mid-send every time.
    abandoned: list[DeliveryRow] = field(default_factory=list)


async def claim(
    engine: AsyncEngine, *, limit: int, settings: NotifySettings, now: datetime
) -> Claimed:
    """Claims up to `limit` due deliveries; those that must not go out end here instead."""
    async with engine.begin() as conn:
        return await claim_in(conn, limit=limit, settings=settings, now=now)


async def claim_in(
    conn: AsyncConnection, *, limit: int, settings: NotifySettings, now: datetime
) -> Claimed:
    """`claim` inside the caller's transaction."""
    due = await _load_due(conn, limit=limit, now=now) if limit > 0 else []
    if not due:
        return Claimed([], {})
    customer_ids = {d.customer_id for d in due}
    customers = await load_customers(conn, customer_ids)
    opted_out = await _load_opt_outs(conn, customer_ids)
    triage = triage_due(due, customers=customers, opted_out=opted_out, settings=settings)
    granted = await take_cap_slots(conn, triage.sendable, settings=settings, now=now)
    triage.ending["capped"] = [d for d in triage.sendable if d.id not in granted]
    sendable = [d for d in triage.sendable if d.id in granted]
    for outcome, rows in triage.ending.items():
        await finish(conn, rows, outcome=outcome, settings=settings, now=now)
    await finish(
        conn,
        triage.abandoned,
        outcome="failed",
        settings=settings,
        now=now,
        error=f"no result after {settings.max_attempts} attempts (lease expired)",
    )
    outgoing = await _lease(conn, sendable, customers=customers, settings=settings, now=now)
    ended = triage.ending | {"failed": triage.abandoned}
    return Claimed(outgoing, {k: len(v) for k, v in ended.items() if v})


async def _load_due(conn: AsyncConnection, *, limit: int, now: datetime) -> list[DeliveryRow]:
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
    return await load_deliveries(conn, query)


async def _load_opt_outs(conn: AsyncConnection, customer_ids: set[str]) -> set[tuple[str, str]]:
    """Returns the (customer, channel) pairs opted out; channel "all" stops every message."""
    rows = await conn.execute(
        select(preference_t.c.customer_id, preference_t.c.channel).where(
            preference_t.c.customer_id.in_(customer_ids),
            preference_t.c.opted_out.is_(True),
        )
    )
    return {(row.customer_id, row.channel) for row in rows}


def triage_due(
    due: Sequence[DeliveryRow],
    *,
    customers: dict[str, CustomerRow],
    opted_out: set[tuple[str, str]],
    settings: NotifySettings,
) -> Triage:
    """Sorts due deliveries: out of attempts, erased, noted, opted out, no address, sendable."""
    triage = Triage()
    for delivery in due:
        customer = customers.get(delivery.customer_id)
        if delivery.attempts >= settings.max_attempts:
            triage.abandoned.append(delivery)
        elif customer is not None and customer.erased:
            triage.ending["erased"].append(delivery)
        elif delivery.kind == "note":
            triage.ending["noted"].append(delivery)  # its quiet period is over (intake.quiet)
        elif {(delivery.customer_id, delivery.channel), (delivery.customer_id, "all")} & opted_out:
            triage.ending["opted_out"].append(delivery)
        elif delivery.channel == "email" and (customer is None or customer.email is None):
            triage.ending["erased"].append(delivery)
        else:
            triage.sendable.append(delivery)
    return triage


async def _lease(
    conn: AsyncConnection,
    rows: Sequence[DeliveryRow],
    *,
    customers: dict[str, CustomerRow],
    settings: NotifySettings,
    now: datetime,
) -> list[Outgoing]:
    """Leases the deliveries to this claim; returns them as their channels need them."""
    if not rows:
        return []
    feedback = await _load_feedback(conn, [row.id for row in rows])
    # One token per claim: it tells this claim's attempts from any later one.
    token = uuid.uuid4().hex
    await conn.execute(
        update(delivery_t)
        .where(delivery_t.c.id.in_([row.id for row in rows]))
        .values(
            status="sending",
            lease_token=token,
            attempts=delivery_t.c.attempts + 1,
            next_attempt_at=now + timedelta(seconds=settings.lease_s),
            updated_at=now,
        )
    )
    return [
        outgoing_of(row, customers.get(row.customer_id), token=token, feedback=feedback[row.id])
        for row in rows
    ]


async def _load_feedback(
    conn: AsyncConnection, delivery_ids: list[str]
) -> dict[str, list[FeedbackRef]]:
    """Returns the feedback items each delivery is about, oldest first."""
    feedback: dict[str, list[FeedbackRef]] = {i: [] for i in delivery_ids}
    for item in await conn.execute(
        select(
            notification_t.c.delivery_id,
            link_t.c.feedback_id,
            link_t.c.external_id,
            link_t.c.source_system,
            link_t.c.channel,
        )
        .join(link_t, link_t.c.feedback_id == notification_t.c.feedback_id)
        .where(notification_t.c.delivery_id.in_(delivery_ids))
        .order_by(link_t.c.received_at)
    ):
        feedback[item.delivery_id].append(
            FeedbackRef(
                feedback_id=item.feedback_id,
                external_id=item.external_id,
                source_system=item.source_system,
                channel=item.channel,
            )
        )
    return feedback


def outgoing_of(
    row: DeliveryRow, customer: CustomerRow | None, *, token: str, feedback: list[FeedbackRef]
) -> Outgoing:
    """Returns a just leased delivery (its attempt counted) as its channel needs it."""
    return Outgoing(
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
        feedback=feedback,
    )


Verdicts = dict[str, list[tuple[Outgoing, SendResult]]]


async def record(
    engine: AsyncEngine,
    results: Sequence[tuple[Outgoing, SendResult]],
    *,
    settings: NotifySettings,
    now: datetime,
) -> Verdicts:
    """Records attempts (by lease holders only); returns them by what became of them."""
    async with engine.begin() as conn:
        return await record_in(conn, results, settings=settings, now=now)


async def record_and_claim(
    engine: AsyncEngine,
    results: Sequence[tuple[Outgoing, SendResult]],
    *,
    claim_limit: int,
    settings: NotifySettings,
    now: datetime,
) -> tuple[Verdicts, Claimed]:
    """Records attempts and claims up to `claim_limit` due deliveries in one transaction.

    One write transaction instead of two: on SQLite (one writer) the claim no longer queues
    behind the recording, or the recording behind the claim, while attempts wait on both.
    """
    async with engine.begin() as conn:
        verdicts = await record_in(conn, results, settings=settings, now=now)
        claimed = await claim_in(conn, limit=claim_limit, settings=settings, now=now)
    return verdicts, claimed


async def record_in(
    conn: AsyncConnection,
    results: Sequence[tuple[Outgoing, SendResult]],
    *,
    settings: NotifySettings,
    now: datetime,
) -> Verdicts:
    """`record` inside the caller's transaction."""
    by_verdict: Verdicts = {"delivered": [], "retry": [], "failed": [], "stale": []}
    # By id: a claim's token covers every delivery of that claim, most of them still in flight.
    current = {
        row.id: row
        for row in await load_deliveries(
            conn,
            select(delivery_t).where(
                delivery_t.c.id.in_([item.delivery_id for item, _ in results]),
                delivery_t.c.status == "sending",
            ),
        )
    }
    delivered: list[DeliveryRow] = []
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
            await _retry_later(conn, row, result, settings=settings, now=now)
            by_verdict["retry"].append((item, result))
    await finish(conn, delivered, outcome="delivered", settings=settings, now=now)
    return by_verdict


async def _retry_later(
    conn: AsyncConnection,
    row: DeliveryRow,
    result: SendResult,
    *,
    settings: NotifySettings,
    now: datetime,
) -> None:
    """Puts a delivery back in the queue, due after its backoff (or the receiver's wish)."""
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
            .where(
                or_(delivery_t.c.status == "pending", delivery_t.c.status == "sending"),
                delivery_t.c.kind != "note",  # quiet notes wait on a period, not on the sender
            )
        )
    return int(count or 0)
