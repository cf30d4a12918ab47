"""The alert deliveries: fanned out once per subscription, claimed under a lease, recorded."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.events import deterministic_id
from feedloop.notify.alerts.models import alert_delivery_t, subscription_t
from feedloop.notify.delivery.channels import SendResult
from feedloop.notify.delivery.outcomes import dead_letter_row
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.rows import DeliveryRow
from feedloop.notify.settings import NotifySettings
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CLAIM_BATCH = 50


@dataclass(frozen=True, slots=True)
class Claimed:
    """One delivery taken for an attempt, with its subscription's channel and target."""

    id: str
    subscription_id: str
    alert_key: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    channel: str
    target: str
    created_at: datetime


def wants(subscription: Any, kind: str, theme: str | None) -> bool:
    """True when a subscription takes this alert (its kinds; spikes: its themes, if any)."""
    if kind not in subscription.kinds:
        return False
    return theme is None or not subscription.themes or theme in subscription.themes


async def fan_out(
    conn: AsyncConnection, alerts: list[tuple[str, dict[str, Any]]], now: datetime
) -> int:
    """Adds a delivery per (subscription, alert) that wants it; a pair already there (the same
    event read again) is skipped. Returns how many subscriptions were considered."""
    subscriptions = list(await conn.execute(select(subscription_t)))
    rows = []
    for kind, payload in alerts:
        theme = payload.get("theme") if kind == "spike" else None
        for sub in subscriptions:
            if wants(sub, kind, theme):
                rows.append(
                    {
                        "id": deterministic_id("alert", sub.id, payload["alert_key"]),
                        "subscription_id": sub.id,
                        "alert_key": payload["alert_key"],
                        "kind": kind,
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "last_error": None,
                        "created_at": now,
                        "delivered_at": None,
                    }
                )
    await insert_ignoring_conflicts(conn, alert_delivery_t, rows)
    return len(rows)


async def _capped(conn: AsyncConnection, subscription_id: str, cap: int, now: datetime) -> bool:
    sent = await conn.scalar(
        select(func.count())
        .select_from(alert_delivery_t)
        .where(
            alert_delivery_t.c.subscription_id == subscription_id,
            alert_delivery_t.c.status == "delivered",
            alert_delivery_t.c.delivered_at > now - timedelta(hours=1),
        )
    )
    return int(sent or 0) >= cap


async def claim(engine: AsyncEngine, settings: NotifySettings, now: datetime) -> list[Claimed]:
    """Takes due deliveries under a lease (a crash leaves them due again when it ends); those
    past their subscription's hourly cap end as `capped` instead."""
    d, s = alert_delivery_t, subscription_t
    out: list[Claimed] = []
    async with engine.begin() as conn:
        rows = await conn.execute(
            select(d, s.c.channel, s.c.target)
            .join(s, s.c.id == d.c.subscription_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(CLAIM_BATCH)
        )
        for row in list(rows):
            lease = now + timedelta(seconds=settings.alert_lease_s)
            taken = await conn.execute(
                update(d)
                .where(d.c.id == row.id, d.c.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=lease)
            )
            if taken.rowcount != 1:
                continue  # another replica took it
            if await _capped(conn, row.subscription_id, settings.alert_cap_per_hour, now):
                await conn.execute(
                    update(d).where(d.c.id == row.id).values(status="capped", last_error="cap")
                )
                continue
            out.append(
                Claimed(
                    row.id,
                    row.subscription_id,
                    row.alert_key,
                    row.kind,
                    row.payload,
                    row.attempts,
                    row.channel,
                    row.target,
                    row.created_at,
                )
            )
    return out


def _dead_letter(item: Claimed, error: str, settings: NotifySettings, now: datetime) -> Any:
    """The `notification.failed` dead letter of an alert delivery (outcomes.dead_letter_row):
    no customer (""), the alert key as the issue id, kind alert.<kind>, source `alerts`."""
    failed = DeliveryRow(
        id=item.id,
        customer_id="",
        issue_id=item.alert_key,
        kind=f"alert.{item.kind}",
        round=0,
        channel=item.channel,
        source_system="alerts",
        message=None,
        status="failed",
        outcome=None,
        attempts=item.attempts + 1,
        next_attempt_at=now,
        lease_token=None,
        cap_day=None,
        last_error=error,
        resends=0,
        created_at=item.created_at,
        updated_at=now,
        delivered_at=None,
        failed_at=now,
    )
    return dead_letter_row(failed, error=error, settings=settings, now=now)


def _backoff(settings: NotifySettings, attempts: int, result: SendResult) -> timedelta:
    wait = min(3600.0, settings.alert_retry_base_s * 2 ** (attempts - 1))
    return timedelta(seconds=max(wait, result.retry_after_s or 0.0))


async def record(
    engine: AsyncEngine, item: Claimed, result: SendResult, settings: NotifySettings, now: datetime
) -> str:
    """Records an attempt's result; returns the delivery's status after it."""
    d = alert_delivery_t
    attempts = item.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": result.error}
    if result.verdict == "delivered":
        values |= {"status": "delivered", "delivered_at": now}
    elif result.verdict == "retry" and attempts < settings.alert_max_attempts:
        values |= {"next_attempt_at": now + _backoff(settings, attempts, result)}
    else:
        values |= {"status": "failed"}
    async with engine.begin() as conn:
        await conn.execute(
            update(d).where(and_(d.c.id == item.id, d.c.status == "pending")).values(**values)
        )
        if values.get("status") == "failed":
            await OUTBOX.write(conn, [_dead_letter(item, result.error or "", settings, now)])
    return str(values.get("status", "pending"))


async def prune(engine: AsyncEngine, settings: NotifySettings, now: datetime) -> None:
    """Deletes deliveries past `alert_keep_days`."""
    before = now - timedelta(days=settings.alert_keep_days)
    async with engine.begin() as conn:
        await conn.execute(delete(alert_delivery_t).where(alert_delivery_t.c.created_at < before))
