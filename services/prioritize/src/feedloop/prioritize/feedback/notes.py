"""Internal notes on single feedback items: written by people through the console or the API,
never sent to customers. Erasure: rights.erase_customer deletes the notes on the customer's
feedback (a note may name or describe them)."""

from datetime import datetime
from typing import Any, TypedDict

from feedloop.common.errors import Conflict, NotFound
from feedloop.prioritize.feedback.service import FeedbackItem, item_of
from feedloop.prioritize.models import feedback_note_t, feedback_t
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_NOTES = 100
"""Notes one feedback item holds at most (a bound on what one item's page shows)."""


class Note(TypedDict):
    """One note on a feedback item."""

    id: int
    feedback_id: str
    author: str
    client_id: str
    text: str
    at: datetime


class FeedbackDetail(TypedDict):
    """A feedback item with its notes, oldest first."""

    item: FeedbackItem
    notes: list[Note]


def _note(row: Any) -> Note:
    return {
        "id": row.id,
        "feedback_id": row.feedback_id,
        "author": row.author,
        "client_id": row.client_id,
        "text": row.text,
        "at": row.at,
    }


async def detail(*, conn: AsyncConnection, feedback_id: str) -> FeedbackDetail:
    """The item (NotFound when it is not stored) and its notes."""
    columns = [c for c in feedback_t.c if c.name != "embedding"]
    row = (await conn.execute(select(*columns).where(feedback_t.c.id == feedback_id))).first()
    if row is None:
        raise NotFound(f"feedback {feedback_id!r} is not stored")
    notes = await conn.execute(
        select(feedback_note_t)
        .where(feedback_note_t.c.feedback_id == feedback_id)
        .order_by(feedback_note_t.c.id)
    )
    return {"item": item_of(row), "notes": [_note(n) for n in notes]}


async def add(
    *,
    conn: AsyncConnection,
    feedback_id: str,
    author: str,
    client_id: str,
    text: str,
    now: datetime,
) -> Note:
    """Adds a note; NotFound without the item, Conflict past MAX_NOTES."""
    if await conn.scalar(select(feedback_t.c.id).where(feedback_t.c.id == feedback_id)) is None:
        raise NotFound(f"feedback {feedback_id!r} is not stored")
    count = await conn.scalar(
        select(func.count())
        .select_from(feedback_note_t)
        .where(feedback_note_t.c.feedback_id == feedback_id)
    )
    if (count or 0) >= MAX_NOTES:
        raise Conflict(f"feedback {feedback_id!r} already holds {MAX_NOTES} notes")
    values = {
        "feedback_id": feedback_id,
        "author": author,
        "client_id": client_id,
        "text": text,
        "at": now,
    }
    key = (await conn.execute(insert(feedback_note_t).values(values))).inserted_primary_key
    assert key is not None
    return {
        "id": int(key[0]),
        "feedback_id": feedback_id,
        "author": author,
        "client_id": client_id,
        "text": text,
        "at": now,
    }


async def erase(conn: AsyncConnection, feedback_ids: list[str]) -> int:
    """Deletes the notes on these feedback items (a customer's erasure); returns how many."""
    if not feedback_ids:
        return 0
    done = await conn.execute(
        delete(feedback_note_t).where(feedback_note_t.c.feedback_id.in_(feedback_ids))
    )
    return done.rowcount or 0
