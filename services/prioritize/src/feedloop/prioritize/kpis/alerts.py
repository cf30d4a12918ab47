"""KPI alerts: prioritize finds spikes and builds the weekly digest, and emits each once, ever.

Every `kpi_alert_check_s` a background task looks at the spikes of the last
`spike_lookback_days` days (service.spikes, the console's) and at the digest slot
(`digest_weekday`, `digest_hour`, UTC). Each alert has a unique key (spike:<theme>:<day>,
digest:<Monday>) stored in `kpi_alert` in the same transaction as its outbox row, so an alert
is emitted exactly once across restarts and replicas: a key already stored is skipped, and two
replicas racing on one key collide on the primary key, one transaction rolls back whole and
its next pass finds the key. A digest slot missed while the service was down is caught up at
the next pass of that week. notify (feedloop.notify.alerts) delivers the events to staff.

Erasure: `kpi_alert` and the events hold keys, counts, themes and issue ids, no customer data;
rows older than a year are deleted (nothing would re-alert: spikes look back days, not years).
"""

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI
from feedloop.common.db import UtcDateTime, lock_keys, table_of
from feedloop.common.events import Contract, SpikeDetected, WeeklyDigest, deterministic_id, utcnow
from feedloop.common.shell import Step, task_step
from feedloop.prioritize.kpis import digest, service
from feedloop.prioritize.models import Base
from feedloop.prioritize.outbox import OUTBOX
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import String, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

log = logging.getLogger(__name__)
KEEP = timedelta(days=366)


class KpiAlert(Base):
    """An alert emitted (its key), so that it is emitted once."""

    __tablename__ = "kpi_alert"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    emitted_at: Mapped[datetime] = mapped_column(UtcDateTime)


kpi_alert_t = table_of(KpiAlert)


def digest_week(now: datetime, *, weekday: int, hour: int) -> date | None:
    """The Monday of the week the digest due at `now` covers (the last whole week), once this
    week's slot has passed; None before it."""
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    slot = datetime.combine(monday + timedelta(days=weekday), time(hour), tzinfo=UTC)
    return monday - timedelta(weeks=1) if now >= slot else None


async def _emit(
    engine: AsyncEngine, settings: PrioritizeSettings, events: list[Any], now: datetime
) -> int:
    """Writes the events whose keys are new, with their keys, in one transaction."""
    async with engine.begin() as conn:
        await lock_keys(conn, ["kpi-alerts"])
        keys = [e.alert_key for e in events]
        seen = set(await conn.scalars(select(kpi_alert_t.c.key).where(kpi_alert_t.c.key.in_(keys))))
        fresh = [e for e in events if e.alert_key not in seen]
        if not fresh:
            return 0
        await conn.execute(
            insert(kpi_alert_t),
            [{"key": e.alert_key, "kind": e.event_type, "emitted_at": now} for e in fresh],
        )
        await OUTBOX.write(conn, [_row(e, settings, now) for e in fresh])
    return len(fresh)


def _row(event: Contract, settings: PrioritizeSettings, now: datetime) -> dict[str, Any]:
    key: str = event.alert_key  # type: ignore[attr-defined]
    return OUTBOX.row(
        event,
        event_id=deterministic_id(event.event_type, key),  # type: ignore[attr-defined]
        key=key,
        correlation_id=key,
        prefix=settings.kafka_topic_prefix,
        now=now,
    )


async def check(engine: AsyncEngine, settings: PrioritizeSettings, now: datetime) -> int:
    """One pass: emits the new spikes and a due digest; returns how many alerts it emitted."""
    today = now.astimezone(UTC).date()
    week = digest_week(now, weekday=settings.digest_weekday, hour=settings.digest_hour)
    async with engine.connect() as conn:
        found = await service.spikes(
            conn=conn,
            since=today - timedelta(days=settings.spike_lookback_days - 1),
            until=today,
            baseline_days=settings.baseline_days,
        )
        events: list[SpikeDetected | WeeklyDigest] = [digest.spike_event(s, now) for s in found]
        if week is not None:
            emitted = await conn.scalar(
                select(kpi_alert_t.c.key).where(kpi_alert_t.c.key == f"digest:{week}")
            )
            if emitted is None:
                built = await digest.build(
                    conn, week=week, now=now, baseline_days=settings.baseline_days
                )
                events.append(built)
    emitted_now = await _emit(engine, settings, events, now) if events else 0
    async with engine.begin() as conn:
        await conn.execute(delete(kpi_alert_t).where(kpi_alert_t.c.emitted_at < now - KEEP))
    return emitted_now


async def _loop(engine: AsyncEngine, settings: PrioritizeSettings, on_emit: Any) -> None:
    while True:
        try:
            if await check(engine, settings, utcnow()):
                on_emit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("KPI alert check failed; trying again next time")
        await asyncio.sleep(settings.kpi_alert_check_s)


def step(engine: AsyncEngine, settings: PrioritizeSettings) -> Step:
    """The lifespan step that checks for alerts every `kpi_alert_check_s` (first at start) and
    wakes the outbox relay (`app.state.relay`) when it emitted some."""

    async def start(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        run = task_step(
            "prioritize-kpi-alerts", lambda: _loop(engine, settings, app.state.relay.wake)
        )
        await run(app, stack)

    return start
