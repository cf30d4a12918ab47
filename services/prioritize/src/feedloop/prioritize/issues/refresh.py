"""Keeping the volume-relative factors of open issues current as each batch ends.

Share of volume, trend and recency depend on all feedback, not only an issue's own, so an issue
that receives nothing new would keep the reach it had when total volume was smaller. Each batch
ends by rescoring the open issues of the window (one read, one volume load, in memory). A row
is written, with its `issue.updated` event, only when the score moved by `REFRESH_EPSILON`
points or more or the severity or pattern flag changed: the stored priority is always the
announced one and lags the exact value by less than the epsilon, and small drifts make no
events.
"""

from datetime import datetime, timedelta

from feedloop.common.db import is_postgres
from feedloop.prioritize.grouping import OPEN
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import issue_of, save_issue
from feedloop.prioritize.models import issue_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

REFRESH_EPSILON = 0.5


async def refresh_open(
    *, conn: AsyncConnection, settings: PrioritizeSettings, now: datetime
) -> list[str]:
    """Rescores the open issues of the window; returns the ids whose change was saved."""
    query = select(issue_t).where(
        issue_t.c.merged_into.is_(None),
        issue_t.c.status.in_(OPEN),
        issue_t.c.last_seen >= now - timedelta(days=settings.window_days),
    )
    if is_postgres(conn):
        # Another transaction holding a row rescores it itself: skip rather than wait on it.
        query = query.with_for_update(skip_locked=True)
    issues = [issue_of(row) for row in await conn.execute(query)]
    if not issues:
        return []
    volumes = await load_volumes(conn, {i["theme"] for i in issues}, settings, now)
    saved = []
    for issue in issues:
        before = issue["priority_score"]
        changes = rescore(issue, volumes, settings, now=now)
        moved = abs(issue["priority_score"] - before) >= REFRESH_EPSILON
        if moved or {"severity", "is_pattern"} & set(changes):
            await save_issue(
                conn=conn,
                issue=issue,
                changes=sorted(changes),
                prefix=settings.kafka_topic_prefix,
                now=now,
            )
            saved.append(issue["id"])
    return saved
