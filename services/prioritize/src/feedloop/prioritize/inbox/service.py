"""The answer queue: rows of the questions prioritize met, listing, answering (no HTTP here).

Two kinds wait here. A question is a one-off issue of its own, answered by an owner. An
incident is a one-off complaint about one order or ticket (kinds.incident_reason) that waits
on its complaint issue like every complaint, and waits here too while that issue is no
pattern: answered, it leaves its issue for a one-off issue of its own that notify closes
`answered`; if more customers report the same first, its status reads `pattern` (derived
from its issue, not stored) and its reporter is told about the fix with the others; if its
issue is resolved first, `resolved`. Either way one message, one `feedback.closed`.

Erasure: an item holds the customer's id and redacted text; erasing a customer deletes their
rows (`erase_customer`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedloop.common.errors import Conflict, NotFound
from feedloop.common.events import (
    FeedbackPrioritized,
    FeedbackRef,
    IssueUpdated,
    Priority,
    deterministic_id,
)
from feedloop.prioritize.grouping import CLOSED
from feedloop.prioritize.issues.payloads import group_id_of
from feedloop.prioritize.kinds import incident_reason, order_refs
from feedloop.prioritize.models import feedback_t, inbox_t, issue_t
from feedloop.prioritize.outbox import outbox_row, write
from feedloop.prioritize.rows import FeedbackRow, IssueRow
from sqlalchemy import Select, and_, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

QUESTION = "question"
INCIDENT = "incident"
Queued = tuple[FeedbackRow, str, str | None, list[str]]
"""(feedback row, correlation id, revision, order refs) of an item the batch stored."""


class InboxItemNotFound(NotFound):
    """No question has this id."""

    kind = "inbox-item-not-found"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"inbox item {item_id!r} does not exist")


def _queue_row(
    row: FeedbackRow,
    *,
    item_id: str,
    kind: str,
    correlation_id: str,
    refs: list[str],
    now: datetime,
    reason: str | None,
) -> dict[str, Any]:
    """The answer-queue row of one item. Order refs: those it carries, then its text's."""
    return {
        "id": item_id,
        "feedback_id": row["id"],
        "customer_id": row["customer_id"],
        "theme": row["theme"],
        "language": (row["enrichment"].get("language") or {}).get("code"),
        "text": row["text"],
        "order_refs": list(dict.fromkeys([*refs, *order_refs(row["text"])]))[:10],
        "status": "open",
        "kind": kind,
        "issue_id": row["issue_id"],
        "reason": reason[:300] if reason else None,
        "owner": None,
        "answer": None,
        "answered_by": None,
        "version": 1,
        "correlation_id": correlation_id[:100],
        "received_at": row["received_at"],
        "created_at": now,
        "answered_at": None,
    }


def inbox_rows(others: Sequence[Queued], *, now: datetime) -> list[dict[str, Any]]:
    """Returns the answer-queue rows of a batch's questions (the others are not queued)."""
    return [
        _queue_row(
            row,
            item_id=group_id_of(
                QUESTION, theme=row["theme"], feedback_id=row["id"], revision=revision
            ),
            kind=QUESTION,
            correlation_id=correlation_id,
            refs=refs,
            now=now,
            reason="a question or a request for this customer",
        )
        for row, correlation_id, revision, refs in others
        if row["kind"] == QUESTION
    ]


def incident_id(feedback_id: str, revision: str | None = None) -> str:
    """The id of an incident's queue item, and of the one-off issue its answer opens."""
    return deterministic_id(INCIDENT, feedback_id, *([revision] if revision else []))


def incident_rows(
    complaints: Sequence[Queued], issues: dict[str, IssueRow], *, now: datetime
) -> list[dict[str, Any]]:
    """Returns the queue rows of a batch's one-off incidents: complaints naming an order and
    what went wrong with it, whose issue (as the batch left it) is no pattern."""
    rows: list[dict[str, Any]] = []
    for row, correlation_id, revision, refs in complaints:
        issue = issues.get(row["issue_id"] or "")
        if issue is None or issue["is_pattern"] or row["duplicate_of"]:
            continue
        reason = incident_reason(row["text"], refs)
        if reason is None:
            continue
        rows.append(
            _queue_row(
                row,
                item_id=incident_id(row["id"], revision),
                kind=INCIDENT,
                correlation_id=correlation_id,
                refs=refs,
                now=now,
                reason=reason,
            )
        )
    return rows


def _status() -> Any:
    """An item's status: an open incident whose issue became a pattern (or was closed) left."""
    open_incident = and_(inbox_t.c.status == "open", inbox_t.c.kind == INCIDENT)
    return case(
        (and_(open_incident, issue_t.c.is_pattern.is_(True)), "pattern"),
        (and_(open_incident, issue_t.c.status.in_(CLOSED)), "resolved"),
        else_=inbox_t.c.status,
    )


def _select(*where: Any) -> Select[Any]:
    """The queue's rows with their derived status and their complaint's current issue."""
    hidden = ("status", "issue_id")
    return (
        select(
            *[c for c in inbox_t.c if c.name not in hidden],
            _status().label("status"),
            func.coalesce(feedback_t.c.issue_id, inbox_t.c.issue_id).label("issue_id"),
        )
        .select_from(
            inbox_t.outerjoin(feedback_t, feedback_t.c.id == inbox_t.c.feedback_id).outerjoin(
                issue_t, issue_t.c.id == feedback_t.c.issue_id
            )
        )
        .where(*where)
    )


def _read(row: Any, *, now: datetime, sla_s: float) -> dict[str, Any]:
    item = dict(row._mapping)
    end = item["answered_at"] or now
    item["sla_age_s"] = max(0.0, (end - item["received_at"]).total_seconds())
    item["overdue"] = item["status"] == "open" and item["sla_age_s"] > sla_s
    return item


async def list_inbox(
    *,
    conn: AsyncConnection,
    status: str | None,
    limit: int,
    offset: int,
    now: datetime,
    sla_s: float,
    kind: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Returns a page of the queue, oldest first, and the total."""
    where = [_status() == status] if status else []
    where += [inbox_t.c.kind == kind] if kind else []
    query = _select(*where)
    total = await conn.scalar(select(func.count()).select_from(query.subquery()))
    rows = await conn.execute(
        query.order_by(inbox_t.c.received_at, inbox_t.c.id).limit(limit).offset(offset)
    )
    return [_read(r, now=now, sla_s=sla_s) for r in rows], int(total or 0)


async def get_item(
    *, conn: AsyncConnection, item_id: str, now: datetime, sla_s: float
) -> dict[str, Any]:
    """Returns one queue item."""
    row = (await conn.execute(_select(inbox_t.c.id == item_id))).first()
    if row is None:
        raise InboxItemNotFound(item_id)
    return _read(row, now=now, sla_s=sla_s)


def answered_event(item: dict[str, Any]) -> IssueUpdated:
    """Returns the issue.updated of an answered item: its one-off issue, resolved with the
    answer (kind question: notify owes its waiting item the answer)."""
    return IssueUpdated(
        issue_id=item["id"],
        version=item["version"],
        title=f"{item['kind']}: {' '.join(item['text'].split())[:200]}",
        theme=item["theme"],
        status="resolved",
        owner=item["owner"],
        resolution_message=item["answer"],
        is_pattern=False,
        severity="low",
        priority=Priority(score=0.0, formula=f"{item['kind']}: answered individually"),
        feedback_count=1,
        distinct_customers=1,
        changes=["resolution_message", "status"],
        resolved_at=item["answered_at"],
        kind="question",
    )


_LEFT = {
    "pattern": "more customers reported the same: its reporters are told about the fix",
    "resolved": "its issue was resolved: its reporter is told about the fix",
}


async def answer(
    *,
    conn: AsyncConnection,
    item_id: str,
    text: str,
    owner: str | None,
    by: str,
    prefix: str,
    now: datetime,
    sla_s: float,
) -> dict[str, Any]:
    """Answers an item once; the answer travels to notify as its one-off issue's resolution.

    An incident leaves its complaint issue for that one-off issue (a feedback.prioritized
    after the issue.updated, on the same key); one that left the queue is refused.
    """
    row = (
        await conn.execute(select(inbox_t).where(inbox_t.c.id == item_id).with_for_update())
    ).first()
    if row is None:
        raise InboxItemNotFound(item_id)
    current = await get_item(conn=conn, item_id=item_id, now=now, sla_s=sla_s)
    _refuse_unless_open(current)
    values = {
        "status": "answered",
        "answer": text,
        "owner": owner or row.owner or by,
        "answered_by": by,
        "answered_at": now,
        "version": row.version + 1,
    }
    await conn.execute(update(inbox_t).where(inbox_t.c.id == item_id).values(**values))
    item = current | values
    events: list[tuple[IssueUpdated | FeedbackPrioritized, str]] = [
        (
            answered_event(item),
            deterministic_id("issue.updated", item_id, str(item["version"])),
        )
    ]
    if item["kind"] == INCIDENT:
        moved = await _moved_incident(conn, item)
        if moved is not None:
            events.append(moved)
    rows = [
        outbox_row(
            event,
            event_id=event_id,
            key=item_id,
            correlation_id=item["correlation_id"],
            prefix=prefix,
            now=now,
        )
        for event, event_id in events
    ]
    await write(conn, rows)
    return _read(_Row(item), now=now, sla_s=sla_s)


def _refuse_unless_open(item: dict[str, Any]) -> None:
    """Raises Conflict for an item answered already or gone from the queue."""
    if item["status"] == "answered":
        raise Conflict(f"inbox item {item['id']!r} was answered already", kind="already-answered")
    if item["status"] in _LEFT:
        raise Conflict(
            f"inbox item {item['id']!r} left the queue: {_LEFT[item['status']]}",
            kind="left-the-queue",
        )


async def _moved_incident(
    conn: AsyncConnection, item: dict[str, Any]
) -> tuple[FeedbackPrioritized, str] | None:
    """The feedback.prioritized that moves an answered incident to its own one-off issue."""
    ref = await conn.scalar(select(feedback_t.c.ref).where(feedback_t.c.id == item["feedback_id"]))
    if ref is None:
        return None
    event = FeedbackPrioritized(
        feedback=FeedbackRef.model_validate(ref),
        issue_id=item["id"],
        issue_status="resolved",
        is_pattern=False,
        severity="low",
        priority=Priority(score=0.0, formula="incident: answered individually"),
        kind="complaint",
    )
    return event, deterministic_id("feedback.prioritized", item["feedback_id"], item["id"])


class _Row:
    """A dict seen as a selected row (`_mapping`), for `_read`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


async def erase_customer(*, conn: AsyncConnection, customer_id: str) -> int:
    """Deletes a customer's questions and incidents from the queue; returns how many."""
    result = await conn.execute(delete(inbox_t).where(inbox_t.c.customer_id == customer_id))
    return int(result.rowcount or 0)
