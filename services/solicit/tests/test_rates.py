"""Response rates: Wilson intervals, quantiles and grouping (pure, no I/O)."""

from datetime import UTC, datetime, timedelta

import pytest
from feedloop.solicit.rates import SentRow, group, quantile, summarise, wilson
from feedloop.solicit.scores import kpi_of

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_wilson_interval_matches_the_textbook_values() -> None:
    # 8 of 10: Wilson 95 % is about [0.490, 0.943] (Newcombe 1998, method 3).
    rate = wilson(8, 10)
    assert rate.value == pytest.approx(0.8)
    assert rate.low == pytest.approx(0.4902, abs=1e-3)
    assert rate.high == pytest.approx(0.9433, abs=1e-3)


def test_wilson_stays_inside_zero_and_one_at_the_edges() -> None:
    none, every = wilson(0, 20), wilson(20, 20)
    assert none.low == 0 and 0 < (none.high or 0) < 0.2
    assert every.high == 1 and 0.8 < (every.low or 0) < 1
    assert wilson(0, 0).value is None


def test_quantiles_interpolate() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([0.0, 10.0], 0.9) == pytest.approx(9.0)


def row(program: str, segment: str | None, opened: bool, answered_after_s: float | None) -> SentRow:
    return SentRow(
        program_id=program,
        segment=segment,
        channel="email",
        sent_at=T0,
        opened_at=T0 if opened else None,
        answered_at=T0 + timedelta(seconds=answered_after_s) if answered_after_s else None,
    )


def test_groups_count_sent_opened_answered_and_time_to_answer() -> None:
    rows = [
        row("nps", "b2c", True, 60),
        row("nps", "b2c", True, 120),
        row("nps", "b2c", True, None),
        row("nps", "smb", False, None),
        row("csat", "b2c", True, 30),
    ]
    by_program = {g.program_id: g for g in group(rows, ["program"])}
    nps = by_program["nps"]
    assert (nps.sent, nps.opened, nps.answered) == (4, 3, 2)
    assert nps.segment is None  # not grouped by
    assert nps.response_rate.value == pytest.approx(0.5)
    assert nps.time_to_answer.median_s == pytest.approx(90)
    cells = {(g.program_id, g.segment): g.sent for g in group(rows, ["program", "segment"])}
    assert cells == {("nps", "b2c"): 3, ("nps", "smb"): 1, ("csat", "b2c"): 1}
    assert summarise(rows).answered == 3


def test_nps_of_answers_with_its_interval() -> None:
    answers = [{"metric": "nps", "score": s} for s in [10, 9, 9, 10, 9, 7, 8, 8, 3, 6]]
    kpi = kpi_of(answers)
    assert kpi is not None and kpi.metric == "nps" and kpi.answers == 10
    assert kpi.value == pytest.approx(30)  # 50 % promoters - 20 % detractors
    # SE = sqrt((0.5 + 0.2 - 0.3^2) / 10) = 0.247: 30 +- 48.4 points
    assert kpi.low == pytest.approx(-18.4, abs=0.1)
    assert kpi.high == pytest.approx(78.4, abs=0.1)


def test_csat_share_and_ces_mean_and_mixed_answers() -> None:
    csat = [
        {"metric": "csat", "score": s, "scale_max": 5, "method": "top_2_box"} for s in [5, 4, 3, 2]
    ]
    share = kpi_of(csat)
    assert share is not None and share.value == pytest.approx(50)
    assert 0 < share.low < 50 < share.high < 100
    ces = kpi_of([{"metric": "ces", "score": s, "scale_max": 7} for s in [6, 7, 5]])
    assert ces is not None and ces.value == pytest.approx(6) and ces.low < 6 < ces.high
    assert kpi_of([*csat, {"metric": "nps", "score": 9}]) is None
    assert kpi_of([]) is None
