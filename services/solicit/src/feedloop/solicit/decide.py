"""Whether and when a touchpoint earns an invitation: pure functions, no I/O.

The order of the checks is the order of the reasons a skip records: consent first (erased,
opted out), then the touchpoint's age, the program's sampling, the customer's fatigue, and
finally whether the chosen channel can reach the customer at all.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedloop.solicit.messages import language_of
from feedloop.solicit.programs import Program, QuietHours

SkipReason = Literal[
    "erased", "opted_out", "too_old", "not_sampled", "fatigue", "no_address", "expired"
]


@dataclass(frozen=True)
class Moment:
    """What the decision needs to know of a touchpoint."""

    key: str
    customer_id: str
    occurred_at: datetime
    email: str | None
    locale: str | None
    time_zone: str | None
    callback: bool
    """True when the touchpoint's source system has a webhook configured."""


@dataclass(frozen=True)
class Invite:
    """Invite at `due_at` in `language`."""

    due_at: datetime
    language: str


@dataclass(frozen=True)
class Skip:
    """No invitation, for this reason."""

    reason: SkipReason


def sampled(program_id: str, touchpoint_key: str, rate: float) -> bool:
    """Deterministic sampling: the same touchpoint is always in or always out of a program."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{program_id}\x1f{touchpoint_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def zone(name: str | None, default: str) -> ZoneInfo:
    """The customer's time zone, or the default one when missing or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def after_quiet_hours(moment: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (local time of `tz`), as UTC."""
    if quiet is None or quiet.start == quiet.end:
        return moment
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    spans_midnight = quiet.start > quiet.end
    if spans_midnight:
        inside = clock >= quiet.start or clock < quiet.end
    else:
        inside = quiet.start <= clock < quiet.end
    if not inside:
        return moment
    day = local.date()
    if spans_midnight and clock >= quiet.start:
        day += timedelta(days=1)
    end = datetime.combine(day, quiet.end, tzinfo=tz)
    return end.astimezone(moment.tzinfo)


def fatigued(due_at: datetime, invited: Sequence[datetime], days: int) -> bool:
    """True when the customer has another invitation within `days` of `due_at`."""
    if days <= 0:
        return False
    span = timedelta(days=days)
    return any(abs(due_at - other) < span for other in invited)


def decide(
    *,
    program: Program,
    moment: Moment,
    blocked: Literal["erased", "opted_out"] | None,
    invited: Sequence[datetime],
    fatigue_days: int,
    default_time_zone: str,
    now: datetime,
) -> Invite | Skip:
    """Decides one (program, touchpoint): an invitation with its time and language, or a skip."""
    if blocked is not None:
        return Skip(blocked)
    if now - moment.occurred_at > timedelta(seconds=program.window_s):
        return Skip("too_old")
    if not sampled(program.id, moment.key, program.sampling_rate):
        return Skip("not_sampled")
    earliest = max(now, moment.occurred_at + timedelta(seconds=program.delay_s))
    tz = zone(moment.time_zone, default_time_zone)
    due_at = after_quiet_hours(earliest, program.quiet_hours, tz)
    if fatigued(due_at, invited, fatigue_days):
        return Skip("fatigue")
    reachable = moment.email is not None if program.channel == "email" else moment.callback
    if not reachable:
        return Skip("no_address")
    return Invite(due_at=due_at, language=language_of(moment.locale, program.default_language))
