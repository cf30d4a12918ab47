"""The answer queue: rows of the questions prioritize met, listing, answering (no HTTP here).

Erasure: an item holds the customer's id and redacted text; erasing a customer deletes their
rows (`erase_customer`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedloop.common.errors import Conflict, NotFound
from feedloop.common.events import IssueUpdated, Priority, deterministic_id
from feedloop.prioritize.issues.payloads import group_id_of
from feedloop.prioritize.kinds import order_refs
from feedloop.prioritize.models import inbox_t
from feedloop.prioritize.outbox import outbox_row, write
from feedloop.prioritize.rows import FeedbackRow
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


class InboxItemNotFound(NotFound):
    """No question has this id."""

    kind = "inbox-item-not-found"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"inbox item {item_id!r} does not exist")


def inbox_rows(
    others: Sequence[tuple[FeedbackRow, str, str | None, list[str]]], *, now: datetime
) -> list[dict[str, Any]]:
    """Returns the answer-queue rows of a batch's questions (the others are not queued).

    Order refs: those the item carries, then those its text names.
    """
    rows: list[dict[str, Any]] = []
    for row, correlation_id, revision, refs in others:
        if row["kind"] != "question":
            continue
        language = (row["enrichment"].get("language") or {}).get("code")
        rows.append(
            {
                "id": group_id_of(
                    "question", theme=row["theme"], feedback_id=row["id"], revision=revision
                ),
                "feedback_id": row["id"],
                "customer_id": row["customer_id"],
                "theme": row["theme"],
                "language": language,
                "text": row["text"],
                "order_refs": list(dict.fromkeys([*refs, *order_refs(row["text"])]))[:10],
                "status": "open",
                "owner": None,
                "answer": None,
                "answered_by": None,
                "version": 1,
                "correlation_id": correlation_id[:100],
                "received_at": row["received_at"],
                "created_at": now,
                "answered_at": None,
            }
        )
    return rows


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
) -> tuple[list[dict[str, Any]], int]:
    """Returns a page of the queue, oldest first, and the total."""
    where = [inbox_t.c.status == status] if status else []
    total = await conn.scalar(select(func.count()).select_from(inbox_t).where(*where))
    rows = await conn.execute(
        select(inbox_t)
        .where(*where)
        .order_by(inbox_t.c.received_at, inbox_t.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_read(r, now=now, sla_s=sla_s) for r in rows], int(total or 0)


async def get_item(
    *, conn: AsyncConnection, item_id: str, now: datetime, sla_s: float
) -> dict[str, Any]:
    """Returns one queue item."""
    row = (await conn.execute(select(inbox_t).where(inbox_t.c.id == item_id))).first()
    if row is None:
        raise InboxItemNotFound(item_id)
    return _read(row, now=now, sla_s=sla_s)


def answered_event(item: dict[str, Any]) -> IssueUpdated:
    """Returns the issue.updated of an answered question: resolved with the answer."""
    return IssueUpdated(
        issue_id=item["id"],
        version=item["version"],
        title=f"question: {' '.join(item['text'].split())[:200]}",
        theme=item["theme"],
        status="resolved",
        owner=item["owner"],
        resolution_message=item["answer"],
        is_pattern=False,
        severity="low",
        priority=Priority(score=0.0, formula="question: answered individually"),
        feedback_count=1,
        distinct_customers=1,
        changes=["resolution_message", "status"],
        resolved_at=item["answered_at"],
        kind="question",
    )


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
    """Answers a question once; the answer travels to notify as the question's resolution."""
    row = (
        await conn.execute(select(inbox_t).where(inbox_t.c.id == item_id).with_for_update())
    ).first()
    if row is None:
        raise InboxItemNotFound(item_id)
    if row.status == "answered":
        raise Conflict(f"inbox item {item_id!r} was answered already", kind="already-answered")
    values = {
        "status": "answered",
        "answer": text,
        "owner": owner or row.owner or by,
        "answered_by": by,
        "answered_at": now,
        "version": row.version + 1,
    }
    await conn.execute(update(inbox_t).where(inbox_t.c.id == item_id).values(**values))
    item = dict(row._mapping) | values
    event = answered_event(item)
    await write(
        conn,
        [
            outbox_row(
                event,
                event_id=deterministic_id("issue.updated", item_id, str(item["version"])),
                key=item_id,
                correlation_id=item["correlation_id"],
                prefix=prefix,
                now=now,
            )
        ],
    )
    return _read(_Row(item), now=now, sla_s=sla_s)


class _Row:
    """A dict seen as a selected row (`_mapping`), for `_read`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


async def erase_customer(*, conn: AsyncConnection, customer_id: str) -> int:
    """Deletes a customer's questions from the queue; returns how many."""
    result = await conn.execute(delete(inbox_t).where(inbox_t.c.customer_id == customer_id))
    return int(result.rowcount or 0)
