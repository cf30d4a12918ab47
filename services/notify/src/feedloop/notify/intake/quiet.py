"""The quiet period of `noted` items: remarks and unthanked praise close after it, not at once.

With `noted_quiet_period` at 0 (the default) a note is born ended: the item closes `noted` in
the transaction that links it. Above 0 the note is a delivery on channel "none" that waits in
the send queue, due when the quiet period has passed (`next_attempt_at`, in the database, so
it survives a restart); the sender's claim ends it `noted` without sending anything (one claim
ends it, once). Items of one customer and group whose periods end within the same
`BUCKET_S` seconds share one such delivery: each waits its quiet period and at most
`BUCKET_S` more.

Before it is due an item may turn out to be owed more: re-analysed into a complaint (linked
to an issue) or a question (answered), it leaves its note (`withdraw`) and closes as that
kind closes; its customer erased, the note ends `erased`. One `feedback.closed` per item
either way: the link is closed once, by whatever ends first.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import Final

from feedloop.notify.models import notification_t
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

BUCKET_S: Final = 10
"""Granularity of the due times, in seconds (a round number: due time // BUCKET_S)."""
NOTE: Final = "note"


def note_round(now: datetime, quiet: timedelta) -> int:
    """The round of a note owed at `now`: 1 without a quiet period, else its due bucket."""
    if quiet <= timedelta(0):
        return 1
    return math.ceil((now + quiet).timestamp() / BUCKET_S)


def due_at(round_: int) -> datetime:
    """When a quiet note of this round is due (the end of its bucket)."""
    return datetime.fromtimestamp(round_ * BUCKET_S, UTC)


def is_quiet(kind: str, quiet: timedelta) -> bool:
    """True when a message of `kind` waits out a quiet period instead of ending at once."""
    return kind == NOTE and quiet > timedelta(0)


async def withdraw(conn: AsyncConnection, feedback_id: str) -> None:
    """Takes an item out of its waiting note: it is owed something else now.

    The note's delivery stays (other items may share it); ending it later finds this item
    no longer among its notifications.
    """
    await conn.execute(
        delete(notification_t).where(
            notification_t.c.feedback_id == feedback_id,
            notification_t.c.kind == NOTE,
            notification_t.c.outcome.is_(None),
        )
    )
