"""Issue rows: creating, loading, reading with a lock, and saving (the one way to write one)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from feedloop.common.db import is_postgres, lock_keys
from feedloop.common.errors import NotFound
from feedloop.common.events import Priority
from feedloop.prioritize import outbox
from feedloop.prioritize.issues.evidence import empty_stats
from feedloop.prioritize.issues.payloads import issue_updated_row
from feedloop.prioritize.models import issue_t
from feedloop.prioritize.rows import HistoryRow, IssueRow, IssueStats
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


class IssueNotFound(NotFound):
    """No issue has this id."""

    kind = "issue-not-found"

    def __init__(self, issue_id: str) -> None:
        super().__init__(f"issue {issue_id!r} does not exist")


def new_issue(*, issue_id: str, theme: str, title: str, at: datetime, now: datetime) -> IssueRow:
    """Returns the row of a new, empty issue (version 0: saving it makes version 1)."""
    return {
        "id": issue_id,
        "version": 0,
        "title": title[:300],
        "theme": theme,
        "status": "new",
        "owner": None,
        "planned_action": None,
        "resolution_message": None,
        "effort": None,
        "is_pattern": False,
        "severity": "low",
        "priority_score": 0.0,
        "priority": Priority(score=0.0, factors=[], formula=""),
        "stats": empty_stats(),
        "feedback_count": 0,
        "distinct_customers": 0,
        "centroid": b"",
        "first_seen": at,
        "last_seen": at,
        "created_at": now,
        "updated_at": now,
        "resolved_at": None,
        "merged_into": None,
    }


def issue_of(row: Row[Any] | Mapping[str, Any]) -> IssueRow:
    """Returns the typed row of a stored issue: the priority read into its model, once."""
    issue = dict(row._mapping if isinstance(row, Row) else row)
    issue["priority"] = Priority.model_validate(issue["priority"])
    issue["stats"] = cast(IssueStats, dict(issue["stats"]))
    return cast(IssueRow, issue)


def _stored(issue: IssueRow) -> dict[str, Any]:
    """The column values of an issue row: the priority as JSON, once."""
    return {**issue, "priority": issue["priority"].model_dump(mode="json")}


def history_row(
    issue_id: str,
    status: str,
    previous: str | None,
    *,
    by: str,
    now: datetime,
    note: str | None = None,
) -> HistoryRow:
    """Returns a status history entry."""
    return {
        "issue_id": issue_id,
        "status": status,
        "previous": previous,
        "changed_by": by,
        "note": note,
        "at": now,
    }


async def lock_issue(*, conn: AsyncConnection, issue_id: str) -> IssueRow:
    """Reads an issue for update (its theme's lock first, as the consumer takes it)."""
    theme = await conn.scalar(select(issue_t.c.theme).where(issue_t.c.id == issue_id))
    if theme is None:
        raise IssueNotFound(issue_id)
    await lock_keys(conn, [f"theme:{theme}"])
    query = select(issue_t).where(issue_t.c.id == issue_id)
    if is_postgres(conn):
        query = query.with_for_update()
    return issue_of((await conn.execute(query)).one())


async def persist_issue(
    *, conn: AsyncConnection, issue: IssueRow, now: datetime, created: bool = False
) -> None:
    """Writes the issue at its next version (inserted when `created`); emits nothing."""
    issue["version"] += 1
    issue["updated_at"] = now
    if created:
        await conn.execute(insert(issue_t), [_stored(issue)])
    else:
        await conn.execute(
            update(issue_t).where(issue_t.c.id == issue["id"]).values(**_stored(issue))
        )


async def save_issue(
    *,
    conn: AsyncConnection,
    issue: IssueRow,
    changes: list[str],
    prefix: str,
    now: datetime,
    created: bool = False,
) -> None:
    """Writes the issue at the next version and its issue.updated event to the outbox."""
    await persist_issue(conn=conn, issue=issue, now=now, created=created)
    await outbox.write(conn, [issue_updated_row(issue, changes, prefix=prefix, now=now)])
