"""KPI queries: scores by segment, channel and theme; themes over time; spikes; closure; impact."""

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal, TypedDict

from feedloop.common.errors import Conflict
from feedloop.prioritize.issues.evidence import baseline
from feedloop.prioritize.issues.followup import FollowupCounts, followup_counts
from feedloop.prioritize.issues.store import IssueNotFound
from feedloop.prioritize.kpis import rollup, stats
from feedloop.prioritize.models import feedback_t, history_t, issue_t, theme_day_t
from feedloop.prioritize.priority import SPIKE_Z, is_spike, trend_z
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

Dimension = Literal["segment", "channel", "theme", "tier", "language"]


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
    praise: int
    """Items of kind praise (stored before kinds existed: of positive sentiment)."""
    praise_share: float
    mean_sentiment: float
    negative_share: float


class ThemesOverTime(TypedDict):
    """Each theme's buckets in a period."""

    bucket: Literal["day", "week"]
    since: datetime
    until: datetime
    themes: dict[str, list[ThemeBucket]]


class ThemeNpsImpact(TypedDict):
    """How much a theme's complaints pull the NPS down."""

    theme: str
    complaint_answers: int
    """NPS answers given with a complaint on the theme."""
    detractors: int
    nps_without: float | None
    """The NPS of the other answers: what it would be without the theme's complaints."""
    points: float | None
    """nps_without minus the NPS: the points the theme's complaints cost."""


class NpsImpact(TypedDict):
    """The NPS of a period and each theme's impact on it."""

    since: datetime
    until: datetime
    nps: float | None
    responses: int
    themes: list[ThemeNpsImpact]


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
    followup: FollowupCounts
    """Answers to "Is it fixed for you?" about the issue, beside the complaint rates."""


def _nps(cells: Sequence[rollup.Cell]) -> stats.NpsScore | None:
    n = sum(c["nps_n"] for c in cells)
    if not n:
        return None
    promoters = sum(c["promoters"] for c in cells)
    detractors = sum(c["detractors"] for c in cells)
    return stats.nps_of_counts(n, promoters=promoters, detractors=detractors)


def _csat(cells: Sequence[rollup.Cell]) -> dict[str, stats.CsatScore]:
    out: dict[str, stats.CsatScore] = {}
    for method, group in sorted(_by(cells, "csat_method").items()):
        n = sum(c["csat_n"] for c in group)
        if not method or not n:
            continue
        hits = sum(c["csat_hits"] for c in group)
        if method == "mean":
            value = round(100 * sum(c["csat_norm_micro"] for c in group) / 1e6 / n, 1)
        else:
            value = round(100 * hits / n, 1)
        out[method] = stats.csat_score(method, value, n, hits)
    return out


def _ces(cells: Sequence[rollup.Cell]) -> dict[str, stats.CesScore]:
    out: dict[str, stats.CesScore] = {}
    for scale, group in sorted(_by(cells, "ces_scale").items()):
        n = sum(c["ces_n"] for c in group)
        if not scale or not n:
            continue
        out[scale] = stats.ces_score(
            round(sum(c["ces_score_sum"] for c in group) / n, 2),
            sum(c["ces_easy"] for c in group),
            n,
        )
    return out


def _block(cells: Sequence[rollup.Cell]) -> ScoreBlock:
    return {
        "feedback": sum(c["feedback"] for c in cells),
        "nps": _nps(cells),
        "csat": _csat(cells),
        "ces": _ces(cells),
    }


def _by(cells: Sequence[rollup.Cell], key: str, missing: str = "") -> dict[str, list[rollup.Cell]]:
    out: dict[str, list[rollup.Cell]] = defaultdict(list)
    for cell in cells:
        out[cell[key] or missing].append(cell)
    return out


async def scores(
    *,
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    dimensions: list[Dimension],
    filters: rollup.Filters | None = None,
) -> Scores:
    """NPS, CSAT (by method) and CES (by scale), overall and per value of each dimension, of
    the feedback that passes the filters (dimension: values, any of them)."""
    group = [*dict.fromkeys(dimensions), "csat_method", "ces_scale"]
    cells = await rollup.cells(conn, since=since, until=until, group=group, filters=filters)
    out: Scores = {"since": since, "until": until, "overall": _block(cells), "by": {}}
    for dimension in dimensions:
        groups = _by(cells, dimension, "unknown")
        out["by"][dimension] = {key: _block(items) for key, items in sorted(groups.items())}
    return out


def bucket_of(moment: datetime, bucket: Literal["day", "week"]) -> str:
    """Returns the ISO day, or the Monday of the ISO week, of a moment."""
    day = moment.date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def _bucket_of_day(day: str, bucket: Literal["day", "week"]) -> str:
    if bucket == "day":
        return day
    start = date.fromisoformat(day)
    return (start - timedelta(days=start.weekday())).isoformat()


async def themes_over_time(
    *,
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    bucket: Literal["day", "week"],
    filters: rollup.Filters | None = None,
) -> ThemesOverTime:
    """Volume, complaints, praise and mean sentiment per theme and (UTC) day or week."""
    cells = await rollup.cells(
        conn, since=since, until=until, group=["theme", "day"], filters=filters
    )
    sums: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for cell in cells:
        key = (cell["theme"] or "unthemed", _bucket_of_day(cell["day"], bucket))
        sums[key].update({m: cell[m] for m in ("feedback", "complaints", "praise", "negative")})
        sums[key]["sentiment_micro"] += cell["sentiment_micro"]
    series: dict[str, list[ThemeBucket]] = defaultdict(list)
    for (theme, start), total in sorted(sums.items()):
        n = total["feedback"]
        if not n:
            continue
        series[theme].append(
            {
                "bucket": start,
                "volume": n,
                "complaints": total["complaints"],
                "praise": total["praise"],
                "praise_share": round(total["praise"] / n, 3),
                "mean_sentiment": round(total["sentiment_micro"] / 1e6 / n, 3),
                "negative_share": round(total["negative"] / n, 3),
            }
        )
    return {"bucket": bucket, "since": since, "until": until, "themes": dict(series)}


def _nps_of(promoters: int, detractors: int, n: int) -> float | None:
    return 100 * (promoters - detractors) / n if n else None


async def nps_impact(
    *,
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    filters: rollup.Filters | None = None,
) -> NpsImpact:
    """Each theme's impact on the NPS in points: the NPS without the answers given with a
    complaint on the theme, minus the NPS; themes costing the most first."""
    cells = await rollup.cells(conn, since=since, until=until, group=["theme"], filters=filters)
    n = sum(c["nps_n"] for c in cells)
    promoters = sum(c["promoters"] for c in cells)
    detractors = sum(c["detractors"] for c in cells)
    nps = _nps_of(promoters, detractors, n)
    themes: list[ThemeNpsImpact] = []
    for cell in cells:
        answers = cell["complaint_nps_n"]
        if not answers or nps is None:
            continue
        without = _nps_of(
            promoters - cell["complaint_promoters"],
            detractors - cell["complaint_detractors"],
            n - answers,
        )
        themes.append(
            {
                "theme": cell["theme"] or "unthemed",
                "complaint_answers": answers,
                "detractors": cell["complaint_detractors"],
                "nps_without": None if without is None else round(without, 1),
                "points": None if without is None else round(without - nps, 1),
            }
        )
    themes.sort(key=lambda t: (-(t["points"] or 0), t["theme"]))
    return {
        "since": since,
        "until": until,
        "nps": None if nps is None else round(nps, 1),
        "responses": n,
        "themes": themes,
    }


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
    """Share of issue-linked feedback whose customer was told the outcome, and time to close.

    Counted in SQL; only the closed items' times are read (for the median and p90). Linked
    items are found through the issue index (`issue_id IN issues`): SQLite would otherwise
    walk every row of the period by its occurred_at index."""
    linked = and_(
        feedback_t.c.issue_id.in_(select(issue_t.c.id)),
        feedback_t.c.occurred_at >= since,
        feedback_t.c.occurred_at < until,
    )
    groups = await conn.execute(
        select(feedback_t.c.close_outcome, func.count(), func.count(feedback_t.c.closed_at))
        .where(linked)
        .group_by(feedback_t.c.close_outcome)
    )
    total = closed = 0
    outcomes: dict[str, int] = defaultdict(int)
    for outcome, items, done in groups:
        total, closed = total + items, closed + done
        if done:
            outcomes[outcome or "unknown"] += done
    found = await conn.scalars(
        select(feedback_t.c.time_to_close_s)
        .where(
            linked, feedback_t.c.closed_at.is_not(None), feedback_t.c.time_to_close_s.is_not(None)
        )
        .order_by(feedback_t.c.time_to_close_s)
    )
    times = list(found)
    return {
        "linked_feedback": total,
        "closed": closed,
        "closure_rate": round(closed / total, 4) if total else None,
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
        "followup": await followup_counts(conn=conn, issue_id=issue_id),
    }
