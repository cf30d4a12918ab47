"""Listing stored feedback (redacted texts) with filters, newest first, by keyset pages.

A page ends where the next begins: the cursor holds the last item's (occurred_at, id), so each
page is one index range read however deep the listing goes (no OFFSET), and items stored
meanwhile do not shift the pages already read.
"""

import base64
import binascii
from datetime import datetime
from typing import Any, TypedDict

from feedloop.common.errors import Invalid
from feedloop.prioritize.kpis import rollup
from feedloop.prioritize.models import feedback_t
from sqlalchemy import ColumnElement, and_, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_LIMIT = 500


class FeedbackItem(TypedDict):
    """One stored feedback item as the listing shows it (its text redacted at enrich)."""

    id: str
    customer_id: str
    occurred_at: datetime
    channel: str
    segment: str | None
    tier: str | None
    theme: str | None
    kind: str | None
    language: str | None
    sentiment_label: str
    sentiment_score: float
    is_complaint: bool
    nps: int | None
    csat: int | None
    ces: int | None
    rating: float | None
    issue_id: str | None
    closed_at: datetime | None
    close_outcome: str | None
    text: str


def encode_cursor(occurred_at: datetime, item_id: str) -> str:
    """The opaque cursor after an item."""
    raw = f"{occurred_at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(occurred_at, id) of a cursor; Invalid (422) when it is not one this API gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, item_id = raw.split("|", 1)
        at = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid("cursor is not one this API returned") from exc
    if at.tzinfo is None or not item_id or not item_id.isprintable():
        raise Invalid("cursor is not one this API returned")
    return at, item_id


def _matches(column: Any, values: list[str]) -> ColumnElement[bool]:
    known = column.in_(values)
    return or_(known, column.is_(None)) if rollup.MISSING & set(values) else known


def _where(
    conn: AsyncConnection, filters: rollup.Filters, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(feedback_t.c.occurred_at >= since)
    if until is not None:
        where.append(feedback_t.c.occurred_at < until)
    for dimension, values in filters.items():
        if not values:
            continue
        if dimension == "language":
            d = rollup.Dialect(conn.dialect.name)
            language: ColumnElement[Any] = literal_column(rollup.key_sql(d, "feedback")["language"])
            where.append(language.in_([*values, ""] if rollup.MISSING & set(values) else values))
        else:
            where.append(_matches(feedback_t.c[dimension], list(values)))
    return where


def item_of(row: Any) -> FeedbackItem:
    enrichment = row.enrichment or {}
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "occurred_at": row.occurred_at,
        "channel": row.channel,
        "segment": row.segment,
        "tier": row.tier,
        "theme": row.theme,
        "kind": row.kind,
        "language": (enrichment.get("language") or {}).get("code"),
        "sentiment_label": row.sentiment_label,
        "sentiment_score": row.sentiment_score,
        "is_complaint": row.is_complaint,
        "nps": row.nps,
        "csat": (row.csat or {}).get("score"),
        "ces": (row.ces or {}).get("score"),
        "rating": row.rating,
        "issue_id": row.issue_id,
        "closed_at": row.closed_at,
        "close_outcome": row.close_outcome,
        "text": row.text,
    }


async def list_feedback(
    *,
    conn: AsyncConnection,
    filters: rollup.Filters,
    since: datetime | None,
    until: datetime | None,
    issue_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[FeedbackItem], str | None]:
    """One page of feedback, newest first, and the cursor of the next page (None: the last)."""
    where = _where(conn, filters, since, until)
    if issue_id is not None:
        where.append(feedback_t.c.issue_id == issue_id)
    if cursor:
        at, item_id = decode_cursor(cursor)
        where.append(
            or_(
                feedback_t.c.occurred_at < at,
                and_(feedback_t.c.occurred_at == at, feedback_t.c.id < item_id),
            )
        )
    columns = [c for c in feedback_t.c if c.name != "embedding"]
    query = (
        select(*columns)
        .where(*where)
        .order_by(feedback_t.c.occurred_at.desc(), feedback_t.c.id.desc())
        .limit(min(limit, MAX_LIMIT) + 1)
    )
    rows = (await conn.execute(query)).all()
    items = [item_of(r) for r in rows[:limit]]
    more = len(rows) > limit
    return items, encode_cursor(items[-1]["occurred_at"], items[-1]["id"]) if more else None
