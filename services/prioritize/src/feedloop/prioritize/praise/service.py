"""Loading praise counts per theme from the feedback store (no HTTP here)."""

from datetime import datetime, timedelta
from typing import Any

from feedloop.prioritize.issues.payloads import group_id_of
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.praise.rank import Ranked, ThemeCounts, rank
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection


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
