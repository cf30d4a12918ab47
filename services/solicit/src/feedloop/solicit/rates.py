"""Response rates: invitations sent, opened and answered per program, segment and channel.

Rates come with Wilson score intervals (95 %), which stay inside 0..1 and behave for small
groups and rates near 0 or 1, where the normal approximation does not.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from feedloop.solicit.models import answer_t, invitation_t
from feedloop.solicit.rates_math import Z_95, wilson_bounds
from feedloop.solicit.scores import Kpi, kpi_of
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

Dimension = Literal["program", "segment", "channel"]
DIMENSIONS: list[Dimension] = ["program", "segment", "channel"]


class Rate(BaseModel):
    """A proportion with its 95 % Wilson interval (None when nothing was sent)."""

    value: float | None
    low: float | None
    high: float | None


class Durations(BaseModel):
    """Time from sending to the first answer, in seconds."""

    median_s: float | None
    p90_s: float | None


class RateGroup(BaseModel):
    """Counts and rates of one group (a dimension not grouped by is None)."""

    program_id: str | None = None
    segment: str | None = None
    channel: str | None = None
    sent: int
    opened: int
    answered: int
    open_rate: Rate
    response_rate: Rate = Field(description="Answered / sent.")
    time_to_answer: Durations
    kpi: Kpi | None = Field(
        default=None,
        description="The score of the group's answers with its 95 % interval (one metric only); "
        "answers may still change within their edit window.",
    )


class ResponseRates(BaseModel):
    """Response rates of invitations sent in [since, until)."""

    since: datetime
    until: datetime
    confidence: float = 0.95
    group_by: list[Dimension]
    groups: list[RateGroup]
    total: RateGroup


def wilson(successes: int, n: int, z: float = Z_95) -> Rate:
    """The Wilson score interval of successes/n."""
    if n <= 0:
        return Rate(value=None, low=None, high=None)
    low, high = wilson_bounds(successes, n, z)
    return Rate(value=successes / n, low=low, high=high)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class SentRow:
    """One sent invitation, as the rates need it."""

    program_id: str
    segment: str | None
    channel: str
    sent_at: datetime
    opened_at: datetime | None
    answered_at: datetime | None
    answer: dict[str, Any] | None = None


def summarise(rows: Iterable[SentRow], **labels: str | None) -> RateGroup:
    """Counts and rates of a group of sent invitations."""
    items = list(rows)
    opened = sum(r.opened_at is not None for r in items)
    answered = [r for r in items if r.answered_at is not None]
    waits = [(r.answered_at - r.sent_at).total_seconds() for r in answered if r.answered_at]
    return RateGroup(
        **labels,
        sent=len(items),
        opened=opened,
        answered=len(answered),
        open_rate=wilson(opened, len(items)),
        response_rate=wilson(len(answered), len(items)),
        time_to_answer=Durations(median_s=quantile(waits, 0.5), p90_s=quantile(waits, 0.9)),
        kpi=kpi_of([r.answer for r in items if r.answer is not None]),
    )


def group(rows: Sequence[SentRow], by: Sequence[Dimension]) -> list[RateGroup]:
    """One RateGroup per combination of the dimensions in `by`, largest first."""
    groups: dict[tuple[str | None, ...], list[SentRow]] = defaultdict(list)
    fields = {"program": "program_id", "segment": "segment", "channel": "channel"}
    for row in rows:
        groups[tuple(getattr(row, fields[d]) for d in by)].append(row)
    result = [
        summarise(members, **{fields[d]: value for d, value in zip(by, key, strict=True)})
        for key, members in groups.items()
    ]
    return sorted(result, key=lambda g: (-g.sent, str(g.program_id), str(g.segment)))


async def response_rates(
    *,
    conn: AsyncConnection,
    since: datetime,
    until: datetime,
    by: Sequence[Dimension],
    program_id: str | None,
) -> ResponseRates:
    """Response rates of the invitations sent in [since, until)."""
    inv = invitation_t.c
    query = (
        select(
            inv.program_id,
            inv.segment,
            inv.channel,
            inv.sent_at,
            inv.opened_at,
            inv.answered_at,
            answer_t.c.answer,
        )
        .outerjoin(answer_t, answer_t.c.invitation_id == inv.id)
        .where(inv.sent_at.is_not(None), inv.sent_at >= since, inv.sent_at < until)
    )
    if program_id is not None:
        query = query.where(inv.program_id == program_id)
    rows = [SentRow(*row) for row in (await conn.execute(query)).all()]
    return ResponseRates(
        since=since,
        until=until,
        group_by=list(by),
        groups=group(rows, by),
        total=summarise(rows),
    )
