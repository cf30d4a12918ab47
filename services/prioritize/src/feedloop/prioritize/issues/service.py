"""Issue queries and edits: list, detail, patch (owner, status, action, resolution)."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypedDict, cast

import numpy as np
from feedloop.common.errors import Conflict, Invalid
from feedloop.prioritize.grouping import similarity, to_vector
from feedloop.prioritize.issues.schemas import IssuePatch, IssueSort
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import (
    IssueNotFound,
    history_row,
    issue_of,
    lock_issue,
    save_issue,
)
from feedloop.prioritize.models import feedback_t, history_t, issue_t
from feedloop.prioritize.rows import HistoryRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection


class IssueEdit(TypedDict, total=False):
    """The columns a patch may change."""

    owner: str | None
    status: str
    planned_action: str | None
    resolution_message: str | None
    effort: float | None


class FeedbackSampleRow(TypedDict):
    """A member shown with an issue, with its similarity to the centroid."""

    feedback_id: str
    customer_id: str
    channel: str
    text: str
    sentiment: Mapping[str, object] | None
    occurred_at: datetime
    similarity: float
    duplicate_of: str | None


class IssueDetailRow(IssueRow):
    """An issue with its most representative members and its status history."""

    representative_feedback: list[FeedbackSampleRow]
    status_history: list[HistoryRow]


SORTS = {
    "-priority": issue_t.c.priority_score.desc(),
    "priority": issue_t.c.priority_score.asc(),
    "-last_seen": issue_t.c.last_seen.desc(),
    "last_seen": issue_t.c.last_seen.asc(),
    "-created_at": issue_t.c.created_at.desc(),
    "created_at": issue_t.c.created_at.asc(),
    "-customers": issue_t.c.distinct_customers.desc(),
}


async def list_issues(
    *,
    conn: AsyncConnection,
    status: list[str] | None,
    theme: str | None,
    pattern: bool | None,
    min_priority: float | None,
    since: datetime | None,
    until: datetime | None,
    include_merged: bool,
    sort: IssueSort,
    limit: int,
    offset: int,
    also: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[IssueRow], int]:
    """Lists issues matching the filters (and the conditions `also`), sorted, one page;
    returns the page and the total."""
    where: list[ColumnElement[bool]] = [*also]
    if status:
        where.append(issue_t.c.status.in_(status))
    if theme:
        where.append(issue_t.c.theme == theme)
    if pattern is not None:
        where.append(issue_t.c.is_pattern.is_(pattern))
    if min_priority is not None:
        where.append(issue_t.c.priority_score >= min_priority)
    if since is not None:
        where.append(issue_t.c.last_seen >= since)
    if until is not None:
        where.append(issue_t.c.first_seen < until)
    if not include_merged:
        where.append(issue_t.c.merged_into.is_(None))
    total = await conn.scalar(select(func.count()).select_from(issue_t).where(*where))
    rows = await conn.execute(
        select(issue_t)
        .where(*where)
        .order_by(SORTS[sort], issue_t.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [issue_of(r) for r in rows], int(total or 0)


async def get_issue(*, conn: AsyncConnection, issue_id: str, samples: int = 5) -> IssueDetailRow:
    """Returns an issue with its most representative feedback and its status history."""
    row = (await conn.execute(select(issue_t).where(issue_t.c.id == issue_id))).first()
    if row is None:
        raise IssueNotFound(issue_id)
    issue = issue_of(row)
    members = (
        await conn.execute(
            select(feedback_t)
            .where(feedback_t.c.issue_id == issue_id)
            .order_by(feedback_t.c.occurred_at.desc())
            .limit(500)
        )
    ).all()
    centroid = to_vector(issue["centroid"])
    scored = sorted(
        ((similarity(to_vector(m.embedding), centroid), m) for m in members),
        key=lambda pair: (pair[1].duplicate_of is not None, -pair[0]),
    )
    samples_of: list[FeedbackSampleRow] = [
        {
            "feedback_id": m.id,
            "customer_id": m.customer_id,
            "channel": m.channel,
            "text": m.text,
            "sentiment": m.ref.get("sentiment"),
            "occurred_at": m.occurred_at,
            "similarity": round(float(np.clip(sim, -1, 1)), 4),
            "duplicate_of": m.duplicate_of,
        }
        for sim, m in scored[:samples]
    ]
    history = await conn.execute(
        select(history_t).where(history_t.c.issue_id == issue_id).order_by(history_t.c.id)
    )
    detail = cast(IssueDetailRow, issue)
    detail["representative_feedback"] = samples_of
    detail["status_history"] = [cast(HistoryRow, h._mapping) for h in history]
    return detail


async def patch_issue(
    *,
    conn: AsyncConnection,
    issue_id: str,
    patch: IssuePatch,
    by: str,
    settings: PrioritizeSettings,
    now: datetime,
) -> IssueRow:
    """Applies owner/status/action/resolution/effort changes; a new version and event if any."""
    issue = await lock_issue(conn=conn, issue_id=issue_id)
    if issue["merged_into"]:
        raise Conflict(f"issue {issue_id!r} was merged into {issue['merged_into']!r}")
    given = cast(IssueEdit, patch.model_dump(include=patch.model_fields_set - {"note"}))
    changes = [name for name, value in given.items() if issue.get(name) != value]
    cast(dict[str, object], issue).update(given)
    if issue["status"] == "resolved" and not issue["resolution_message"]:
        raise Invalid(
            "resolution_message: a customer-facing resolution message is required to resolve",
            errors=[
                {
                    "field": "resolution_message",
                    "message": "required to resolve",
                    "type": "missing",
                }
            ],
        )
    if "status" in changes:
        previous = await conn.scalar(select(issue_t.c.status).where(issue_t.c.id == issue_id))
        issue["resolved_at"] = now if issue["status"] == "resolved" else None
        issue["stats"]["returning"] = []
        await conn.execute(
            insert(history_t),
            [history_row(issue_id, issue["status"], previous, by=by, now=now, note=patch.note)],
        )
    elif patch.note and patch.model_fields_set == {"note"}:  # an internal note, nothing else
        status = issue["status"]
        await conn.execute(
            insert(history_t),
            [history_row(issue_id, status, status, by=by, now=now, note=patch.note)],
        )
    if "effort" in changes:
        volumes = await load_volumes(conn, {issue["theme"]}, settings, now)
        changes += rescore(issue, volumes, settings, now=now)
    if changes:
        await save_issue(
            conn=conn, issue=issue, changes=changes, prefix=settings.kafka_topic_prefix, now=now
        )
    return issue
