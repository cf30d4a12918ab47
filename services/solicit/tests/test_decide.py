"""Deciding invitations: consent, age, sampling, fatigue, reach, quiet hours (pure, no I/O)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from feedloop.solicit.decide import Invite, Moment, Skip, after_quiet_hours, decide, sampled
from feedloop.solicit.programs import Program, QuietHours, Survey

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NPS = Program(id="nps", trigger="order.delivered", survey=Survey(metric="nps"), window_s=86400)


def moment(**overrides: object) -> Moment:
    values: dict[str, object] = {
        "key": "tp-1",
        "customer_id": "c-1",
        "occurred_at": NOW - timedelta(hours=1),
        "email": "c1@example.com",
        "locale": "de-CH",
        "time_zone": "Europe/Zurich",
        "callback": False,
    }
    return Moment(**(values | overrides))  # type: ignore[arg-type]


def verdict(program: Program = NPS, **kwargs: object) -> Invite | Skip:
    args: dict[str, object] = {
        "program": program,
        "moment": moment(),
        "blocked": None,
        "invited": [],
        "fatigue_days": 30,
        "default_time_zone": "UTC",
        "now": NOW,
    }
    return decide(**(args | kwargs))  # type: ignore[arg-type]


def test_an_eligible_touchpoint_is_invited_in_the_customers_language() -> None:
    assert verdict() == Invite(due_at=NOW, language="de")


def test_consent_comes_before_every_other_reason() -> None:
    old = moment(occurred_at=NOW - timedelta(days=9))
    assert verdict(blocked="erased", moment=old) == Skip("erased")
    assert verdict(blocked="opted_out", moment=old) == Skip("opted_out")


def test_a_touchpoint_older_than_the_programs_window_is_skipped() -> None:
    assert verdict(moment=moment(occurred_at=NOW - timedelta(days=2))) == Skip("too_old")


def test_one_invitation_per_customer_within_the_fatigue_window_across_programs() -> None:
    assert verdict(invited=[NOW - timedelta(days=29)]) == Skip("fatigue")
    assert isinstance(verdict(invited=[NOW - timedelta(days=31)]), Invite)
    assert isinstance(verdict(invited=[NOW - timedelta(days=1)], fatigue_days=0), Invite)


def test_a_customer_without_an_address_for_the_channel_is_skipped() -> None:
    assert verdict(moment=moment(email=None)) == Skip("no_address")
    hook = NPS.model_copy(update={"channel": "webhook"})
    assert verdict(program=hook) == Skip("no_address")
    assert isinstance(verdict(program=hook, moment=moment(callback=True)), Invite)


def test_sampling_is_deterministic_and_close_to_its_rate() -> None:
    chosen = [sampled("p", f"tp-{i}", 0.3) for i in range(4000)]
    assert chosen == [sampled("p", f"tp-{i}", 0.3) for i in range(4000)]
    assert 0.27 < sum(chosen) / len(chosen) < 0.33
    half = NPS.model_copy(update={"sampling_rate": 0.0})
    assert verdict(program=half) == Skip("not_sampled")


def test_the_delay_counts_from_the_touchpoint() -> None:
    later = NPS.model_copy(update={"delay_s": 7200})
    result = verdict(program=later)
    assert isinstance(result, Invite)
    assert result.due_at == NOW + timedelta(hours=1)


QUIET = QuietHours(start=time(21, 0), end=time(8, 0))
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        (datetime(2026, 3, 10, 22, 30), datetime(2026, 3, 11, 8, 0)),  # evening: next morning
        (datetime(2026, 3, 10, 6, 0), datetime(2026, 3, 10, 8, 0)),  # early: same morning
        (datetime(2026, 3, 10, 12, 0), datetime(2026, 3, 10, 12, 0)),  # daytime: unchanged
        (datetime(2026, 3, 28, 23, 0), datetime(2026, 3, 29, 8, 0)),  # over the DST change
    ],
)
def test_quiet_hours_move_an_invitation_to_their_end_in_local_time(
    local: datetime, expected_local: datetime
) -> None:
    moved = after_quiet_hours(local.replace(tzinfo=BERLIN).astimezone(UTC), QUIET, BERLIN)
    assert moved.astimezone(BERLIN).replace(tzinfo=None) == expected_local
    assert moved.tzinfo == UTC


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(13, 30))
    moved = after_quiet_hours(datetime(2026, 3, 10, 12, 15, tzinfo=UTC), lunch, ZoneInfo("UTC"))
    assert moved == datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
