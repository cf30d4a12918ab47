"""Applying `prioritized` events to the store: who waits on which issue, and what they are owed.

Idempotent by event id (processed_event) and by content: a feedback item is linked once, an
issue version older than the stored one changes nothing, a notification exists once per
(feedback id, kind) and a delivery once per (customer, issue, kind, round).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts, lock_keys
from feedloop.common.events import FeedbackPrioritized, IssueUpdated
from feedloop.notify.models import (
    customer_t,
    issue_t,
    link_t,
    notification_t,
    processed_t,
)
from feedloop.notify.owed import owe
from feedloop.notify.routing import wants_acknowledgement
from feedloop.notify.settings import NotifySettings
from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Incoming:
    """One decoded `prioritized` event."""

    event_id: str
    correlation_id: str
    event: FeedbackPrioritized | IssueUpdated


@dataclass(slots=True)
class IntakeResult:
    """What a batch changed."""

    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    queued: int = 0


async def apply_batch(
    conn: AsyncConnection, batch: Sequence[Incoming], *, settings: NotifySettings, now: datetime
) -> IntakeResult:
    """Applies a batch in order, in the caller's transaction."""
    result = IntakeResult()
    ids = list({item.event_id for item in batch})
    await lock_keys(conn, [_issue_of(item.event) for item in batch])
    seen = set(
        await conn.scalars(select(processed_t.c.event_id).where(processed_t.c.event_id.in_(ids)))
    )
    for item in batch:
        if item.event_id in seen:
            result.duplicates += 1
            continue
        seen.add(item.event_id)
        await conn.execute(processed_t.insert().values(event_id=item.event_id, processed_at=now))
        if isinstance(item.event, FeedbackPrioritized):
            await _link(conn, item, result, settings=settings, now=now)
        elif not await _update_issue(conn, item.event, result, settings=settings, now=now):
            result.stale += 1
            continue
        result.applied += 1
    return result


def _issue_of(event: FeedbackPrioritized | IssueUpdated) -> str:
    return event.issue_id


async def _issue(conn: AsyncConnection, issue_id: str) -> Any:
    return (await conn.execute(select(issue_t).where(issue_t.c.id == issue_id))).first()


async def _set_status(
    conn: AsyncConnection, issue_id: str, status: str, values: dict[str, Any], now: datetime
) -> Any:
    """Writes an issue's state; counts a new resolution when it turns resolved."""
    state = await _issue(conn, issue_id)
    if state is None:
        await insert_ignoring_conflicts(
            conn,
            issue_t,
            [
                {
                    "id": issue_id,
                    "version": 0,
                    "status": "new",
                    "severity": values.get("severity", "low"),
                    "title": None,
                    "resolution_message": None,
                    "resolutions": 0,
                    "merged_into": None,
                    "updated_at": now,
                }
            ],
        )
        state = await _issue(conn, issue_id)
    turned_resolved = status == "resolved" and state.status != "resolved"
    await conn.execute(
        update(issue_t)
        .where(issue_t.c.id == issue_id)
        .values(
            status=status,
            resolutions=state.resolutions + (1 if turned_resolved else 0),
            updated_at=now,
            **values,
        )
    )
    return await _issue(conn, issue_id)


async def _link(
    conn: AsyncConnection,
    item: Incoming,
    result: IntakeResult,
    *,
    settings: NotifySettings,
    now: datetime,
) -> None:
    event = item.event
    assert isinstance(event, FeedbackPrioritized)
    ref = event.feedback
    await _remember_customer(conn, ref.customer.id, ref.customer.email, ref.locale, now)
    existing = (
        await conn.execute(select(link_t).where(link_t.c.feedback_id == ref.feedback_id))
    ).first()
    if existing is not None:
        resolved_already = await conn.scalar(
            select(
                exists().where(
                    notification_t.c.feedback_id == ref.feedback_id,
                    notification_t.c.kind == "resolution",
                )
            )
        )
        if existing.issue_id == event.issue_id or resolved_already:
            return
        # Regrouped into another issue (a merge): it now waits on that one.
        await conn.execute(
            update(link_t)
            .where(link_t.c.feedback_id == ref.feedback_id)
            .values(issue_id=event.issue_id, linked_at=now)
        )
    else:
        await conn.execute(
            link_t.insert().values(
                feedback_id=ref.feedback_id,
                issue_id=event.issue_id,
                customer_id=ref.customer.id,
                source_system=ref.source_system,
                external_id=ref.external_id,
                channel=str(ref.channel),
                correlation_id=item.correlation_id[:100],
                received_at=ref.received_at,
                linked_at=now,
                closed_at=None,
                close_outcome=None,
            )
        )
    # Events of one issue arrive in order, so the status it carries is the newest.
    state = await _set_status(
        conn, event.issue_id, event.issue_status, {"severity": event.severity}, now
    )
    links = [await _link_row(conn, ref.feedback_id)]
    if state.status == "resolved":
        result.queued += await owe(conn, state, links, "resolution", settings=settings, now=now)
    elif wants_acknowledgement(event, settings):
        result.queued += await owe(
            conn, state, links, "acknowledgement", settings=settings, now=now
        )


async def _link_row(conn: AsyncConnection, feedback_id: str) -> Any:
    return (await conn.execute(select(link_t).where(link_t.c.feedback_id == feedback_id))).one()


async def _remember_customer(
    conn: AsyncConnection, customer_id: str, email: str | None, locale: str | None, now: datetime
) -> None:
    """Stores the newest contact data, except for customers who asked to be erased."""
    await insert_ignoring_conflicts(
        conn,
        customer_t,
        [
            {
                "id": customer_id,
                "email": email,
                "locale": locale,
                "erased_at": None,
                "updated_at": now,
            }
        ],
    )
    changes = {k: v for k, v in (("email", email), ("locale", locale)) if v is not None}
    if changes:
        await conn.execute(
            update(customer_t)
            .where(customer_t.c.id == customer_id, customer_t.c.erased_at.is_(None))
            .values(updated_at=now, **changes)
        )


async def _update_issue(
    conn: AsyncConnection,
    event: IssueUpdated,
    result: IntakeResult,
    *,
    settings: NotifySettings,
    now: datetime,
) -> bool:
    """Applies an issue version; False when it is not newer than the stored one."""
    state = await _issue(conn, event.issue_id)
    if state is not None and event.version <= state.version:
        return False
    values = {
        "version": event.version,
        "severity": event.severity,
        "title": event.title[:300],
        "resolution_message": event.resolution_message,
        "merged_into": event.merged_into,
    }
    state = await _set_status(conn, event.issue_id, event.status, values, now)
    if state.status == "resolved":
        waiting = list(
            (
                await conn.execute(
                    select(link_t).where(
                        link_t.c.issue_id == event.issue_id,
                        ~exists().where(
                            and_(
                                notification_t.c.feedback_id == link_t.c.feedback_id,
                                notification_t.c.kind == "resolution",
                            )
                        ),
                    )
                )
            ).all()
        )
        result.queued += await owe(conn, state, waiting, "resolution", settings=settings, now=now)
    return True
