"""Loading praise counts per theme, or praise patterns, from the feedback store (no HTTP here).

By theme: one row per theme (the praise group its items wait on). By pattern: the theme's
praise split by similarity like complaints into issues (praise.patterns), each a pattern
(enough distinct customers) or a one-off, ranked and checked for fading the same way. The
pattern view reads at most `MAX_PRAISE` praise items of the two windows, the newest (a
fading pattern's oldest items are the first left out past that: narrow by `theme`).
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any, Final

from feedloop.prioritize.grouping import to_vector
from feedloop.prioritize.issues.payloads import group_id_of
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.praise.patterns import PraiseGroup, PraiseItem, group_praise
from feedloop.prioritize.praise.rank import Ranked, ThemeCounts, rank
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_PRAISE: Final = 5_000
"""The most praise items one pattern listing groups (the newest): a bound on its time (about
0.2 s per 1,000 items on a shared 2-core machine; the grouping runs in a worker thread)."""


async def theme_counts(
    conn: AsyncConnection, *, now: datetime, window_days: float
) -> list[ThemeCounts]:
    """Praise and all items per theme, recent window and the one before; praising customers."""
    recent = now - timedelta(days=window_days)
    previous = recent - timedelta(days=window_days)
    is_praise = feedback_t.c.kind == "praise"
    in_recent = feedback_t.c.occurred_at >= recent
    totals = (
        select(
            feedback_t.c.theme,
            func.sum(case((and_(is_praise, in_recent), 1), else_=0)).label("praise_recent"),
            func.sum(case((in_recent, 1), else_=0)).label("total_recent"),
            func.sum(case((and_(is_praise, ~in_recent), 1), else_=0)).label("praise_previous"),
            func.sum(case((~in_recent, 1), else_=0)).label("total_previous"),
        )
        .where(feedback_t.c.occurred_at >= previous, feedback_t.c.occurred_at <= now)
        .group_by(feedback_t.c.theme)
    )
    per_customer = (
        select(
            feedback_t.c.theme,
            feedback_t.c.customer_id,
            func.max(func.coalesce(feedback_t.c.arr, 0.0)).label("arr"),
        )
        .where(is_praise, feedback_t.c.occurred_at >= previous, feedback_t.c.occurred_at <= now)
        .group_by(feedback_t.c.theme, feedback_t.c.customer_id)
        .subquery()
    )
    customers = select(
        per_customer.c.theme,
        func.count().label("customers"),
        func.sum(per_customer.c.arr).label("value"),
    ).group_by(per_customer.c.theme)
    who = {r.theme: (int(r.customers), float(r.value or 0)) for r in await conn.execute(customers)}
    return [
        ThemeCounts(
            theme=r.theme,
            praise_recent=int(r.praise_recent or 0),
            total_recent=int(r.total_recent or 0),
            praise_previous=int(r.praise_previous or 0),
            total_previous=int(r.total_previous or 0),
            customers=who[r.theme][0],
            customer_value=who[r.theme][1],
        )
        for r in await conn.execute(totals)
        if r.theme in who
    ]


async def examples(conn: AsyncConnection, theme: str, *, limit: int = 3) -> list[str]:
    """The newest (redacted) praise texts of a theme."""
    rows = await conn.execute(
        select(feedback_t.c.text)
        .where(feedback_t.c.kind == "praise", feedback_t.c.theme == theme)
        .order_by(feedback_t.c.occurred_at.desc())
        .limit(limit)
    )
    return [r.text for r in rows]


def read(item: Ranked, texts: list[str]) -> dict[str, Any]:
    """The API shape of a ranked pattern."""
    c = item.counts
    return {
        "id": group_id_of("praise", theme=c.theme, feedback_id=""),
        "theme": c.theme,
        "rank": item.rank,
        "score": item.score,
        "reasons": item.reasons,
        "distinct_customers": c.customers,
        "customer_value": c.customer_value,
        "praise_recent": c.praise_recent,
        "total_recent": c.total_recent,
        "praise_previous": c.praise_previous,
        "total_previous": c.total_previous,
        "fading": item.fading,
        "fading_z": item.z,
        "examples": texts,
    }


async def list_praise(
    *, conn: AsyncConnection, now: datetime, window_days: float, limit: int
) -> list[dict[str, Any]]:
    """Praise patterns ranked by reach and customer value, fading ones flagged."""
    ranked = rank(await theme_counts(conn, now=now, window_days=window_days))[:limit]
    return [read(item, await examples(conn, item.counts.theme)) for item in ranked]


async def theme_totals(
    conn: AsyncConnection, *, now: datetime, window_days: float
) -> dict[str, tuple[int, int]]:
    """All items per theme, in the recent window and the one before it."""
    recent = now - timedelta(days=window_days)
    previous = recent - timedelta(days=window_days)
    in_recent = feedback_t.c.occurred_at >= recent
    rows = await conn.execute(
        select(
            feedback_t.c.theme,
            func.sum(case((in_recent, 1), else_=0)).label("recent"),
            func.sum(case((~in_recent, 1), else_=0)).label("previous"),
        )
        .where(feedback_t.c.occurred_at >= previous, feedback_t.c.occurred_at <= now)
        .group_by(feedback_t.c.theme)
    )
    return {r.theme: (int(r.recent or 0), int(r.previous or 0)) for r in rows}


async def praise_items(
    conn: AsyncConnection,
    *,
    now: datetime,
    window_days: float,
    theme: str | None = None,
    limit: int = MAX_PRAISE,
) -> list[PraiseItem]:
    """The praise of both windows (the newest `limit`; of one theme, given), with embeddings."""
    since = now - timedelta(days=2 * window_days)
    only = [feedback_t.c.theme == theme] if theme is not None else []
    rows = await conn.execute(
        select(
            feedback_t.c.id,
            feedback_t.c.theme,
            feedback_t.c.customer_id,
            feedback_t.c.arr,
            feedback_t.c.occurred_at,
            feedback_t.c.text,
            feedback_t.c.embedding,
        )
        .where(
            feedback_t.c.kind == "praise",
            feedback_t.c.occurred_at >= since,
            feedback_t.c.occurred_at <= now,
            *only,
        )
        .order_by(feedback_t.c.occurred_at.desc(), feedback_t.c.id)
        .limit(limit)
    )
    return [
        PraiseItem(
            feedback_id=r.id,
            theme=r.theme,
            customer_id=r.customer_id,
            arr=float(r.arr or 0.0),
            occurred_at=r.occurred_at,
            text=r.text,
            vector=to_vector(r.embedding),
        )
        for r in rows
    ]


def read_pattern(item: Ranked, group: PraiseGroup, *, min_customers: int) -> dict[str, Any]:
    """The API shape of a ranked praise pattern (or one-off) within its theme."""
    is_pattern = item.counts.customers >= min_customers
    said = (
        f"pattern: {item.counts.customers} customers praised much the same"
        if is_pattern
        else f"one-off: {item.counts.customers} of the {min_customers} customers a pattern needs"
    )
    return read(item, group.examples()) | {
        "id": group.id,
        "group": "pattern",
        "is_pattern": is_pattern,
        "members": len(group.items),
        "reasons": [said, *item.reasons],
    }


async def list_praise_patterns(
    *,
    conn: AsyncConnection,
    now: datetime,
    window_days: float,
    limit: int,
    settings: PrioritizeSettings,
    theme: str | None = None,
) -> list[dict[str, Any]]:
    """Praise split by similarity within each theme, ranked by reach and customer value."""
    items = await praise_items(conn, now=now, window_days=window_days, theme=theme)
    grouped = await asyncio.to_thread(
        group_praise,
        items,
        threshold=settings.similarity_threshold,
        # Both compared windows: a pattern that fell silent for a while is still one group.
        window=timedelta(days=2 * window_days),
    )
    groups = {g.id: g for g in grouped}
    totals = await theme_totals(conn, now=now, window_days=window_days)
    since = now - timedelta(days=window_days)
    ranked = rank(
        [g.counts(since=since, totals=totals.get(g.theme, (0, 0))) for g in groups.values()]
    )
    return [
        read_pattern(r, groups[r.counts.group or ""], min_customers=settings.pattern_min_customers)
        for r in ranked[:limit]
    ]
