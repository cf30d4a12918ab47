"""KPI queries: scores by segment, channel and theme; themes over time; spikes; closure; impact."""

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypedDict

from feedloop.common.errors import Conflict
from feedloop.prioritize.issues.evidence import baseline
from feedloop.prioritize.issues.store import IssueNotFound
from feedloop.prioritize.kpis import stats
from feedloop.prioritize.models import feedback_t, history_t, issue_t, theme_day_t
from feedloop.prioritize.priority import SPIKE_Z, is_spike, trend_z
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

Dimension = Literal["segment", "channel", "theme"]


class ScoreBlock(TypedDict):
    """The customer scores of a set of feedback."""

    feedback: int
    nps: stats.NpsScore | None
    csat: dict[str, stats.CsatScore]
    ces: dict[str, stats.CesScore]


class Scores(TypedDict):
    """Scores overall and per value of each dimension."""

    since: datetime
    until: datetime
    overall: ScoreBlock
    by: dict[str, dict[str, ScoreBlock]]


class ThemeBucket(TypedDict):
    """One theme in one day or week."""

    bucket: str
    volume: int
    complaints: int
    mean_sentiment: float
    negative_share: float


class ThemesOverTime(TypedDict):
    """Each theme's buckets in a period."""

    bucket: Literal["day", "week"]
    since: datetime
    until: datetime
    themes: dict[str, list[ThemeBucket]]


class Spike(TypedDict):
    """A day a theme's volume lay far above its baseline."""

    theme: str
    day: str
    volume: int
    baseline_mean: float
    baseline_std: float
    z: float
    threshold_z: float


class CloseTimes(TypedDict):
    """Seconds from feedback to its customer being told."""

    mean: float | None
    median: float | None
    p90: float | None


class Closure(TypedDict):
    """How much issue-linked feedback was closed, how fast, and how."""

    linked_feedback: int
    closed: int
    closure_rate: float | None
    time_to_close_s: CloseTimes
    outcomes: dict[str, int]


class PeriodCounts(TypedDict):
    """Complaints of the issue among the theme's feedback in a period."""

    complaints: int
    feedback: int


class Impact(stats.TwoProportions):
    """A resolution's effect on its theme's complaint rate, tested."""

    issue_id: str
    theme: str
    status: str
    resolved_at: datetime
    period_days: int
    before: PeriodCounts
    after: PeriodCounts
    alpha: float
    improved: bool
    regressed: bool


def _block(rows: Sequence[Any]) -> ScoreBlock:
    return {
        "feedback": len(rows),
        "nps": stats.nps([r.nps for r in rows if r.nps is not None]),
        "csat": stats.csat(r.csat for r in rows if r.csat),
        "ces": stats.ces(r.ces for r in rows if r.ces),
    }


async def scores(
    *, conn: AsyncConnection, since: datetime, until: datetime, dimensions: list[Dimension]
) -> Scores:
    """NPS, CSAT (by method) and CES (by scale), overall and per segment, channel, theme."""
    rows = (
        await conn.execute(
            select(
                feedback_t.c.nps,
                feedback_t.c.csat,
                feedback_t.c.ces,
                feedback_t.c.segment,
                feedback_t.c.channel,
                feedback_t.c.theme,
            ).where(feedback_t.c.occurred_at >= since, feedback_t.c.occurred_at < until)
        )
    ).all()
    out: Scores = {"since": since, "until": until, "overall": _block(rows), "by": {}}
    for dimension in dimensions:
        groups: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            groups[getattr(row, dimension) or "unknown"].append(row)
        out["by"][dimension] = {key: _block(items) for key, items in sorted(groups.items())}
    return out


def bucket_of(moment: datetime, bucket: Literal["day", "week"]) -> str:
    """Returns the ISO day, or the Monday of the ISO week, of a moment."""
    day = moment.date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


async def themes_over_time(
    *, conn: AsyncConnection, since: datetime, until: datetime, bucket: Literal["day", "week"]
) -> ThemesOverTime:
    """Volume, complaints and mean sentiment per theme and day or week."""
    rows = await conn.execute(
        select(
            feedback_t.c.theme,
            feedback_t.c.occurred_at,
            feedback_t.c.sentiment_score,
            feedback_t.c.is_complaint,
        ).where(feedback_t.c.occurred_at >= since, feedback_t.c.occurred_at < until)
    )
    cells: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        cells[(row.theme or "unthemed", bucket_of(row.occurred_at, bucket))].append(row)
    series: dict[str, list[ThemeBucket]] = defaultdict(list)
    for (theme, start), items in sorted(cells.items()):
        series[theme].append(
            {
                "bucket": start,
                "volume": len(items),
                "complaints": sum(1 for r in items if r.is_complaint),
                "mean_sentiment": round(statistics.fmean(r.sentiment_score for r in items), 3),
                "negative_share": round(
                    sum(1 for r in items if r.sentiment_score < 0) / len(items), 3
                ),
            }
        )
    return {"bucket": bucket, "since": since, "until": until, "themes": dict(series)}


async def spikes(
    *, conn: AsyncConnection, since: date, until: date, baseline_days: int
) -> list[Spike]:
    """Days on which a theme's volume lay two standard deviations or more above its baseline."""
    start = (since - timedelta(days=baseline_days)).isoformat()
    rows = await conn.execute(
        select(theme_day_t).where(
            theme_day_t.c.day >= start, theme_day_t.c.day <= until.isoformat()
        )
    )
    by_theme: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        by_theme[row.theme][row.day] = row.total
    found: list[Spike] = []
    for theme, days in sorted(by_theme.items()):
        for day in sorted(d for d in days if d >= since.isoformat()):
            mean, std = baseline(days, day, baseline_days)
            if is_spike(days[day], mean, std):
                found.append(
                    {
                        "theme": theme,
                        "day": day,
                        "volume": days[day],
                        "baseline_mean": round(mean, 2),
                        "baseline_std": round(std, 2),
                        "z": round(trend_z(days[day], mean, std), 2),
                        "threshold_z": SPIKE_Z,
                    }
                )
    return found


async def closure(*, conn: AsyncConnection, since: datetime, until: datetime) -> Closure:
    """Share of issue-linked feedback whose customer was told the outcome, and time to close."""
    rows = (
        await conn.execute(
            select(
                feedback_t.c.closed_at, feedback_t.c.time_to_close_s, feedback_t.c.close_outcome
            ).where(
                feedback_t.c.issue_id.is_not(None),
                feedback_t.c.occurred_at >= since,
                feedback_t.c.occurred_at < until,
            )
        )
    ).all()
    closed = [r for r in rows if r.closed_at is not None]
    times = sorted(r.time_to_close_s for r in closed if r.time_to_close_s is not None)
    outcomes: dict[str, int] = defaultdict(int)
    for r in closed:
        outcomes[r.close_outcome or "unknown"] += 1
    return {
        "linked_feedback": len(rows),
        "closed": len(closed),
        "closure_rate": round(len(closed) / len(rows), 4) if rows else None,
        "time_to_close_s": {
            "mean": round(statistics.fmean(times), 1) if times else None,
            "median": round(statistics.median(times), 1) if times else None,
            "p90": round(times[min(len(times) - 1, int(0.9 * len(times)))], 1) if times else None,
        },
        "outcomes": dict(outcomes),
    }


async def impact(
    *, conn: AsyncConnection, issue_id: str, days: int, now: datetime, alpha: float = 0.05
) -> Impact:
    """Complaint rate of a resolved issue's theme before and after the resolution, tested."""
    issue = (await conn.execute(select(issue_t).where(issue_t.c.id == issue_id))).first()
    if issue is None:
        raise IssueNotFound(issue_id)
    resolved_at = issue.resolved_at or await conn.scalar(
        select(func.max(history_t.c.at)).where(
            history_t.c.issue_id == issue_id, history_t.c.status == "resolved"
        )
    )
    if resolved_at is None:
        raise Conflict(f"issue {issue_id!r} has never been resolved")
    window = timedelta(days=days)
    periods = {
        "before": (resolved_at - window, resolved_at),
        "after": (resolved_at, min(now, resolved_at + window)),
    }
    counts = {}
    for name, (start, end) in periods.items():
        in_period = and_(
            feedback_t.c.theme == issue.theme,
            feedback_t.c.occurred_at >= start,
            feedback_t.c.occurred_at < end,
        )
        total = await conn.scalar(select(func.count()).select_from(feedback_t).where(in_period))
        hits = await conn.scalar(
            select(func.count())
            .select_from(feedback_t)
            .where(in_period, feedback_t.c.issue_id == issue_id)
        )
        counts[name] = (int(hits or 0), int(total or 0))
    test = stats.two_proportions(*counts["before"], *counts["after"])
    significant = test["p_value_fisher"] is not None and test["p_value_fisher"] < alpha
    after, before = test["rate_after"], test["rate_before"]
    return {
        "issue_id": issue_id,
        "theme": issue.theme,
        "status": issue.status,
        "resolved_at": resolved_at,
        "period_days": days,
        "before": {"complaints": counts["before"][0], "feedback": counts["before"][1]},
        "after": {"complaints": counts["after"][0], "feedback": counts["after"][1]},
        "rate_before": before,
        "rate_after": after,
        "z": test["z"],
        "p_value_z": test["p_value_z"],
        "p_value_fisher": test["p_value_fisher"],
        "alpha": alpha,
        "improved": bool(
            significant and after is not None and before is not None and after < before
        ),
        "regressed": bool(
            significant and after is not None and before is not None and after > before
        ),
    }
