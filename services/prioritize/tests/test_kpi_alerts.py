"""KPI alerts: spikes and the weekly digest emitted once each, across restarts (kpis.alerts)."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from feedloop.common.codec import decode
from feedloop.common.db import create_engine
from feedloop.common.events import Priority, PriorityFactor, SpikeDetected, WeeklyDigest
from feedloop.prioritize.issues.store import new_issue, persist_issue
from feedloop.prioritize.kpis import alerts, stats
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import feedback_t, theme_day_t
from feedloop.prioritize.outbox import outbox_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.seeding import seed_store

from .test_kpi_rollup import _row

NOW = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # a Wednesday; its week began on March 9
THIS_WEEK = date(2026, 3, 2)  # the last whole week, which the digest of March 9 covers
LAST_WEEK = date(2026, 2, 23)


def _settings(url: str) -> PrioritizeSettings:
    return PrioritizeSettings(environment="test", database_url=url, digest_hour=8)


def _answer(i: int, day: date, **columns: Any) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    quiet = {"nps": None, "csat": None, "ces": None, "is_complaint": False, "kind": "remark"}
    return _row(random.Random(i), i) | quiet | {"occurred_at": at, "theme": "sizing"} | columns


def _feedback() -> list[dict[str, Any]]:
    this = [_answer(i, THIS_WEEK, nps=score) for i, score in enumerate((10, 10, 9, 3))]
    last = [_answer(10 + i, LAST_WEEK, nps=score) for i, score in enumerate((10, 3))]
    praise = [_answer(20 + i, THIS_WEEK, theme="app", kind="praise") for i in range(3)]
    faded = [_answer(30 + i, LAST_WEEK, theme="delivery", kind="praise") for i in range(2)]
    return this + last + praise + faded


def _volumes() -> list[dict[str, Any]]:
    """sizing: 1 a day for 28 days, then 12 on NOW's day (a spike); delivery: 5 a day."""
    rows = []
    for back in range(29):
        day = (NOW.date() - timedelta(days=back)).isoformat()
        sizing = 12 if back == 0 else 1
        rows.append({"theme": "sizing", "day": day, "total": sizing, "complaints": sizing})
        rows.append({"theme": "delivery", "day": day, "total": 5, "complaints": 0})
    return rows


async def _seed(url: str) -> None:
    issue = new_issue(issue_id="i-1", theme="sizing", title="sizing: a quote", at=NOW, now=NOW)
    reasons = [("reach", 0.3, "9 customers (40 % of the theme)"), ("trend", 0.1, "rising")]
    factors = [
        PriorityFactor(name=n, value=1, weight=1, contribution=c, reason=r) for n, c, r in reasons
    ]
    issue |= {"priority_score": 42.0, "priority": Priority(score=42.0, factors=factors)}

    async def store_issue(conn: AsyncConnection) -> None:
        await persist_issue(conn=conn, issue=issue, now=NOW, created=True)

    tables = [(feedback_t, _feedback()), (theme_day_t, _volumes())]
    await seed_store(url, upgrade, tables, then=store_issue)


async def _check(url: str, now: datetime) -> tuple[int, list[Any]]:
    """One pass on a fresh engine (a restarted service); returns it and the outbox's events."""
    engine = create_engine(url)
    try:
        emitted = await alerts.check(engine, _settings(url), now)
        async with engine.connect() as conn:
            values = await conn.scalars(select(outbox_t.c.value).order_by(outbox_t.c.id))
            events = [decode(v, accept=[SpikeDetected, WeeklyDigest]) for v in values]
    finally:
        await engine.dispose()
    return emitted, events


def test_the_digest_covers_the_last_whole_week_once_its_slot_passed() -> None:
    monday = datetime(2026, 3, 9, tzinfo=UTC)
    assert alerts.digest_week(monday.replace(hour=7), weekday=0, hour=8) is None
    assert alerts.digest_week(monday.replace(hour=8), weekday=0, hour=8) == THIS_WEEK
    assert alerts.digest_week(NOW, weekday=0, hour=8) == THIS_WEEK
    assert alerts.digest_week(NOW, weekday=2, hour=11) is None  # Wednesday 11:00 not yet
    assert alerts.digest_week(monday - timedelta(seconds=1), weekday=6, hour=23) == LAST_WEEK


async def test_each_spike_and_digest_is_emitted_once_across_restarts(database_url: str) -> None:
    await _seed(database_url)
    emitted, events = await _check(database_url, NOW)
    assert emitted == 2
    keys = [e.payload.alert_key for e in events]
    assert keys == [f"spike:sizing:{NOW.date()}", f"digest:{THIS_WEEK}"]
    spike = events[0].payload
    assert (spike.theme, spike.volume, spike.baseline_mean) == ("sizing", 12, 1.0)
    # Later passes, on fresh engines as after a restart, find the keys and emit nothing.
    assert await _check(database_url, NOW + timedelta(hours=1)) == (0, events)
    assert (await _check(database_url, NOW + timedelta(days=1)))[0] == 0
    # The next week's digest comes at its slot, not before.
    next_monday = datetime(2026, 3, 16, 7, 59, tzinfo=UTC)
    assert (await _check(database_url, next_monday))[0] == 0
    emitted, later = await _check(database_url, next_monday + timedelta(minutes=1))
    assert emitted == 1 and later[-1].payload.alert_key == "digest:2026-03-09"


async def test_the_digest_holds_the_weeks_numbers_and_no_customer_text(sqlite_url: str) -> None:
    await _seed(sqlite_url)
    _, events = await _check(sqlite_url, NOW)
    digest: WeeklyDigest = events[-1].payload
    nps = next(k for k in digest.kpis if k.name == "NPS")
    assert (nps.this_week.value, nps.this_week.responses) == (50.0, 4)
    assert (nps.this_week.low, nps.this_week.high) == pytest.approx(stats.nps_interval(3, 1, 4))
    assert (nps.last_week.value, nps.last_week.responses) == (0.0, 2)
    assert [(p.theme, p.this_week, p.last_week) for p in digest.new_praise] == [("app", 3, 0)]
    assert [(p.theme, p.last_week) for p in digest.fading_praise] == [("delivery", 2)]
    top = digest.top_issues[0]
    assert (top.issue_id, top.priority) == ("i-1", 42.0)
    assert top.reasons == ["9 customers (40 % of the theme)", "rising"]
    assert digest.linked_feedback == 0 and digest.closure_rate is None
    text = orjson.dumps(digest.model_dump(mode="json")).decode()
    assert "a quote" not in text and "redacted" not in text  # no title, no feedback text
