"""The weekly digest's content: one ISO week (Monday to Monday, UTC) against the week before.

KPIs with their 95 % intervals (stats), the five open issues of highest priority with their
priority's reasons, themes whose praise appeared or faded, closure of the week's issue-linked
feedback, and the week's spikes. Counts, themes and ids only: issue titles are left out, as
they may quote a customer (issues.assign titles issues with a redacted snippet).
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from feedloop.common.events import (
    DigestIssue,
    DigestKpi,
    DigestPraise,
    DigestScore,
    SpikeDetected,
    WeeklyDigest,
)
from feedloop.prioritize.kpis import rollup, service
from feedloop.prioritize.models import issue_t
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

OPEN = ("new", "acknowledged", "planned", "in_progress")
TOP_ISSUES = 5
PRAISE_CHANGE = 2.0
"""Praise of a theme 'appeared' at this many times last week's count (or from none), 'faded'
at this fraction of it or less (to none included)."""


def week_start(day: date) -> date:
    """The Monday of a day's ISO week."""
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _score(pair: tuple[float | None, int, Any]) -> DigestScore:
    value, responses, interval = pair
    low, high = interval if interval else (None, None)
    return DigestScore(value=value, responses=responses, low=low, high=high)


def _kpis(block: service.ScoreBlock) -> dict[str, tuple[float | None, int, Any]]:
    nps = block["nps"]
    csat = next((c for m, c in block["csat"].items() if m != "mean"), None)
    ces = next(iter(block["ces"].values()), None)
    return {
        "NPS": (nps["score"], nps["responses"], nps["interval"]) if nps else (None, 0, None),
        "CSAT %": (csat["score"], csat["responses"], csat.get("interval"))
        if csat
        else (None, 0, None),
        "CES easy %": (ces["easy_share"], ces["responses"], ces["easy_interval"])
        if ces
        else (None, 0, None),
    }


async def _week_kpis(conn: AsyncConnection, start: date) -> list[DigestKpi]:
    weeks = []
    for first in (start, start - timedelta(weeks=1)):
        scores = await service.scores(
            conn=conn,
            since=_midnight(first),
            until=_midnight(first + timedelta(weeks=1)),
            dimensions=[],
        )
        weeks.append(_kpis(scores["overall"]))
    this, last = weeks
    return [
        DigestKpi(name=name, this_week=_score(this[name]), last_week=_score(last[name]))
        for name in this
    ]


async def _top_issues(conn: AsyncConnection) -> list[DigestIssue]:
    rows = await conn.execute(
        select(issue_t)
        .where(issue_t.c.status.in_(OPEN), issue_t.c.merged_into.is_(None))
        .order_by(issue_t.c.priority_score.desc(), issue_t.c.id)
        .limit(TOP_ISSUES)
    )
    out = []
    for row in rows:
        factors = sorted(
            (row.priority or {}).get("factors") or [], key=lambda f: -float(f["contribution"])
        )
        out.append(
            DigestIssue(
                issue_id=row.id,
                theme=row.theme,
                status=row.status,
                priority=round(row.priority_score, 3),
                customers=row.distinct_customers,
                feedback=row.feedback_count,
                reasons=[str(f["reason"]) for f in factors[:3]],
            )
        )
    return out


async def _praise(
    conn: AsyncConnection, start: date
) -> tuple[list[DigestPraise], list[DigestPraise]]:
    counts: list[dict[str, int]] = []
    for first in (start, start - timedelta(weeks=1)):
        cells = await rollup.cells(
            conn,
            since=_midnight(first),
            until=_midnight(first + timedelta(weeks=1)),
            group=["theme"],
        )
        counts.append({c["theme"] or "unthemed": c["praise"] for c in cells if c["praise"]})
    this, last = counts
    both = [
        DigestPraise(theme=t, this_week=this.get(t, 0), last_week=last.get(t, 0))
        for t in sorted(set(this) | set(last))
    ]
    new = [p for p in both if p.this_week >= PRAISE_CHANGE * max(1, p.last_week)]
    fading = [p for p in both if p.this_week * PRAISE_CHANGE <= p.last_week]
    new.sort(key=lambda p: (-p.this_week, p.theme))
    fading.sort(key=lambda p: (-p.last_week, p.theme))
    return new[:20], fading[:20]


async def build(
    conn: AsyncConnection, *, week: date, now: datetime, baseline_days: int
) -> WeeklyDigest:
    """The digest of the week that began on the Monday `week`."""
    start = week_start(week)
    since, until = _midnight(start), _midnight(start + timedelta(weeks=1))
    closure = await service.closure(conn=conn, since=since, until=until)
    found = await service.spikes(
        conn=conn,
        since=start,
        until=start + timedelta(days=6),
        baseline_days=baseline_days,
    )
    new, fading = await _praise(conn, start)
    return WeeklyDigest(
        alert_key=f"digest:{start.isoformat()}",
        week=start.isoformat(),
        since=since,
        until=until,
        kpis=await _week_kpis(conn, start),
        top_issues=await _top_issues(conn),
        new_praise=new,
        fading_praise=fading,
        linked_feedback=closure["linked_feedback"],
        closed=closure["closed"],
        closure_rate=closure["closure_rate"],
        median_time_to_close_s=closure["time_to_close_s"]["median"],
        spikes=[spike_event(s, now) for s in found[:50]],
        built_at=now,
    )


def spike_event(spike: service.Spike, now: datetime) -> SpikeDetected:
    """A spike as its alert event (key: spike:<theme>:<day>)."""
    return SpikeDetected(
        alert_key=f"spike:{spike['theme']}:{spike['day']}",
        theme=spike["theme"],
        day=spike["day"],
        volume=spike["volume"],
        baseline_mean=spike["baseline_mean"],
        baseline_std=spike["baseline_std"],
        z=spike["z"],
        threshold_z=spike["threshold_z"],
        detected_at=now,
    )
