"""Running sums on an issue and the priority evidence derived from them and the theme volumes."""

import statistics
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from feedloop.prioritize import priority
from feedloop.prioritize.models import theme_day_t
from feedloop.prioritize.rows import IssueRow, IssueStats
from feedloop.prioritize.signals import Signals
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


def empty_stats() -> IssueStats:
    """Returns the running sums of a new issue."""
    return {
        "reports": 0,
        "neg_sum": 0.0,
        "detractors": 0,
        "low_csat": 0,
        "high_effort": 0,
        "tier_sum": 0.0,
        "arr_sum": 0.0,
        "returning": [],
    }


def vector_sum(issue: IssueRow) -> tuple[int, float]:
    """Returns (vectors summed, length of their sum) of an issue.

    Rows from before these sums were kept count as perfectly cohesive (length = count), which
    also keeps their centroid moving as it did then.
    """
    count = int(issue["stats"].get("vectors", issue["feedback_count"]))
    return count, float(issue["stats"].get("vector_norm", count))


def add_report(stats: IssueStats, s: Signals) -> None:
    """Adds one (non-duplicate) report's severity to the sums."""
    stats["reports"] += 1
    stats["neg_sum"] += s.negative_intensity
    stats["detractors"] += int(s.detractor)
    stats["low_csat"] += int(s.low_csat)
    stats["high_effort"] += int(s.high_effort)


def add_direction(stats: IssueStats, direction: str | None) -> None:
    """Counts one report's direction of the theme (e.g. 'small' or 'large'; None is not counted)."""
    if direction is not None:
        counts = dict(stats.get("directions") or {})
        counts[direction] = counts.get(direction, 0) + 1
        stats["directions"] = counts


def direction(stats: IssueStats) -> str | None:
    """The issue's direction: the one most of its reports name (None when none leads)."""
    counts = sorted((stats.get("directions") or {}).items(), key=lambda kv: -kv[1])
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return str(counts[0][0])


def opposite(a: str | None, b: str | None) -> bool:
    """True when two directions of one theme are its two opposite poles (unknown joins either)."""
    return a is not None and b is not None and a != b


def add_customer(stats: IssueStats, *, tier: str | None, arr: float | None) -> None:
    """Adds one new distinct customer's value to the sums."""
    stats["tier_sum"] += priority.TIER_WEIGHT.get(tier or "", priority.UNKNOWN_TIER_WEIGHT)
    stats["arr_sum"] += arr or 0.0


def day_of(moment: datetime) -> str:
    """Returns the ISO day of a moment (UTC)."""
    return moment.date().isoformat()


async def bump_theme_days(conn: AsyncConnection, counts: dict[tuple[str, str], list[int]]) -> None:
    """Adds (total, complaints) per (theme, day); callers hold the themes' locks."""
    if not counts:
        return
    themes = {theme for theme, _ in counts}
    days = {day for _, day in counts}
    existing = {
        (r.theme, r.day)
        for r in await conn.execute(
            select(theme_day_t.c.theme, theme_day_t.c.day).where(
                theme_day_t.c.theme.in_(themes), theme_day_t.c.day.in_(days)
            )
        )
    }
    new = [
        {"theme": t, "day": d, "total": n, "complaints": c}
        for (t, d), (n, c) in counts.items()
        if (t, d) not in existing
    ]
    if new:
        await conn.execute(insert(theme_day_t), new)
    for (t, d), (n, c) in counts.items():
        if (t, d) in existing:
            await conn.execute(
                update(theme_day_t)
                .where(theme_day_t.c.theme == t, theme_day_t.c.day == d)
                .values(total=theme_day_t.c.total + n, complaints=theme_day_t.c.complaints + c)
            )


class Volumes:
    """Theme volumes by day: the trend baseline and the share-of-volume denominator."""

    def __init__(self, by_theme: dict[str, dict[str, int]], window_total: int) -> None:
        self.by_theme = by_theme
        self.window_total = window_total

    @classmethod
    async def load(
        cls,
        conn: AsyncConnection,
        *,
        themes: set[str],
        now: datetime,
        window: timedelta,
        baseline_days: int,
    ) -> "Volumes":
        """Reads the daily volumes of the themes and the total volume in the window."""
        since = day_of(now - timedelta(days=baseline_days + 400))
        by_theme: dict[str, dict[str, int]] = defaultdict(dict)
        rows = await conn.execute(
            select(theme_day_t.c.theme, theme_day_t.c.day, theme_day_t.c.total).where(
                theme_day_t.c.theme.in_(themes), theme_day_t.c.day >= since
            )
        )
        for theme, day, total in rows:
            by_theme[theme][day] = total
        window_total = await conn.scalar(
            select(func.coalesce(func.sum(theme_day_t.c.total), 0)).where(
                theme_day_t.c.day >= day_of(now - window)
            )
        )
        return cls(by_theme, int(window_total or 0))

    def baseline(self, theme: str, day: str, days: int) -> tuple[int, float, float]:
        """Returns (count that day, mean, std) of the theme over the `days` days before."""
        counts = self.by_theme.get(theme, {})
        return (counts.get(day, 0), *baseline(counts, day, days))


def baseline(counts: Mapping[str, int], day: str, days: int) -> tuple[float, float]:
    """Returns (mean, std) of daily counts over the `days` days before `day` (absent days: 0)."""
    start = date.fromisoformat(day)
    history = [counts.get((start - timedelta(days=i)).isoformat(), 0) for i in range(1, days + 1)]
    return statistics.fmean(history), statistics.pstdev(history)


def evidence_of(
    issue: IssueRow,
    volumes: Volumes,
    *,
    now: datetime,
    baseline_days: int,
    effort: float,
    effort_source: str,
) -> priority.Evidence:
    """Returns the priority evidence of an issue row."""
    stats = issue["stats"]
    reports = max(1, stats["reports"])
    customers = max(1, issue["distinct_customers"])
    today, mean, std = volumes.baseline(issue["theme"], day_of(issue["last_seen"]), baseline_days)
    return priority.Evidence(
        customers=issue["distinct_customers"],
        reports=stats["reports"],
        volume_in_window=max(volumes.window_total, stats["reports"]),
        negative_intensity=stats["neg_sum"] / reports,
        detractor_share=stats["detractors"] / reports,
        low_csat_share=stats["low_csat"] / reports,
        high_effort_share=stats["high_effort"] / reports,
        tier_weight=stats["tier_sum"] / customers,
        arr=stats["arr_sum"],
        theme_today=today,
        baseline_mean=mean,
        baseline_std=std,
        days_since_last=max(0.0, (now - issue["last_seen"]).total_seconds() / 86400),
        effort=effort,
        effort_source=effort_source,
    )
