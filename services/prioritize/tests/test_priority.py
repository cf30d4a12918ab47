"""The priority formula, grouping and statistics, without network."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import pytest
from feedloop.prioritize import priority
from feedloop.prioritize.grouping import Candidate, best_match, to_vector
from feedloop.prioritize.issues.assign import BatchResult, _watch_regression
from feedloop.prioritize.kpis import stats
from feedloop.prioritize.rows import FeedbackRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from feedloop.prioritize.signals import is_complaint, signals_of, theme_of

from .factory import enriched, theme_vector


def evidence(**overrides: float) -> priority.Evidence:
    values = {
        "customers": 10,
        "reports": 12,
        "volume_in_window": 100,
        "negative_intensity": 0.7,
        "detractor_share": 0.5,
        "low_csat_share": 0.0,
        "high_effort_share": 0.0,
        "tier_weight": 0.3,
        "arr": 10_000.0,
        "theme_today": 5,
        "baseline_mean": 2.0,
        "baseline_std": 1.0,
        "days_since_last": 0.0,
        "effort": 1.0,
    }
    return priority.Evidence(**(values | overrides))  # type: ignore[arg-type]


def test_factor_contributions_add_up_to_the_score_and_each_has_a_reason() -> None:
    result = priority.score(evidence(effort=2.0))
    assert sum(f.contribution for f in result.factors) == pytest.approx(result.score, abs=0.05)
    assert {f.name for f in result.factors} == {*priority.WEIGHTS, "effort"}
    assert all(f.reason for f in result.factors)
    assert result.formula.startswith("score = 100")


def test_more_customers_worse_sentiment_and_higher_value_rank_higher() -> None:
    base = priority.score(evidence()).score
    assert priority.score(evidence(customers=40)).score > base
    assert priority.score(evidence(negative_intensity=1.0)).score > base
    assert priority.score(evidence(tier_weight=1.0, arr=500_000)).score > base
    assert priority.score(evidence(days_since_last=30)).score < base


def test_twice_the_effort_halves_the_score() -> None:
    assert priority.score(evidence(effort=2.0)).score == pytest.approx(
        priority.score(evidence()).score / 2, abs=0.02
    )


def test_a_day_two_standard_deviations_above_baseline_is_a_spike() -> None:
    assert priority.is_spike(10, mean=3.0, std=2.0)
    assert not priority.is_spike(6, mean=3.0, std=2.0)
    trend = priority.factors_of(evidence(theme_today=10, baseline_mean=2, baseline_std=1))
    assert "a spike" in trend["trend"][1]


def test_a_complaint_joins_the_most_similar_open_issue_of_its_theme() -> None:
    now = datetime.now(UTC)
    near = Candidate("a", "sizing", "new", to_vector(theme_vector("fit")), 3, now)
    far = Candidate("b", "sizing", "new", to_vector(theme_vector("zip")), 3, now)
    vector = to_vector(theme_vector("fit", noise=0.05, seed=1))
    window = timedelta(days=14)
    match = best_match(
        vector, [far, near], at=now, threshold=0.5, window=window, regression_window=window
    )
    assert match is near
    stale = Candidate("c", "sizing", "new", near.centroid, 3, now - timedelta(days=30))
    assert (
        best_match(vector, [stale], at=now, threshold=0.5, window=window, regression_window=window)
        is None
    )


def test_praise_is_not_a_complaint_but_a_detractor_score_is() -> None:
    praise = enriched("p1", label="positive", score=0.9)
    assert not is_complaint(praise, signals_of(praise))
    detractor = enriched("p2", label="neutral", score=0.0, answers=[{"metric": "nps", "score": 2}])
    assert is_complaint(detractor, signals_of(detractor))
    assert theme_of(enriched("p3", theme=None)) == "unthemed"


def test_nps_csat_and_ces_follow_their_definitions() -> None:
    assert stats.nps([10, 9, 8, 3])["score"] == 25.0  # type: ignore[index]
    answers = [
        {"method": "top_2_box", "score": s, "scale_max": 5, "normalised": (s - 1) / 4}
        for s in (5, 4, 2, 1)
    ]
    assert stats.csat(answers)["top_2_box"]["score"] == 50.0
    ces = stats.ces([{"score": 7, "scale_max": 7, "direction": "higher_is_easier", "ease": 1.0}])
    assert ces["1-7 higher_is_easier"]["easy_share"] == 100.0


def test_a_drop_from_30_to_5_percent_is_significant_and_equal_rates_are_not() -> None:
    dropped = stats.two_proportions(30, 100, 5, 100)
    assert dropped["p_value_fisher"] < 0.001
    assert dropped["p_value_z"] < 0.001
    same = stats.two_proportions(10, 100, 10, 100)
    assert same["p_value_fisher"] > 0.5
    assert np.isclose(same["z"], 0.0)


def test_fewer_reports_than_the_spike_minimum_earn_no_trend_credit() -> None:
    two = priority.factors_of(evidence(theme_today=2, baseline_mean=0, baseline_std=0))
    three = priority.factors_of(evidence(theme_today=3, baseline_mean=0, baseline_std=0))
    assert two["trend"][0] == 0.0
    assert not priority.is_spike(2, mean=0.0, std=0.0)
    assert three["trend"][0] > 0 and priority.is_spike(3, mean=0.0, std=0.0)


def test_a_split_problem_merges_and_two_problems_of_one_theme_do_not() -> None:
    from feedloop.prioritize.issues.consolidate import cohesion_ratio

    rng = np.random.default_rng(0)

    def members(base: np.ndarray, n: int) -> list[np.ndarray]:
        return [v / np.linalg.norm(v) for v in base + 0.9 * rng.standard_normal((n, base.size))]

    def issue(vectors: list[np.ndarray]) -> IssueRow:
        total = np.sum(vectors, axis=0)
        centroid = (total / np.linalg.norm(total)).astype(np.float32)
        stats = {"vectors": len(vectors), "vector_norm": float(np.linalg.norm(total))}
        row = {"centroid": centroid.tobytes(), "stats": stats, "feedback_count": len(vectors)}
        return cast(IssueRow, row)  # the fields cohesion_ratio reads

    small = rng.standard_normal(64)
    small /= np.linalg.norm(small) / 3
    sleeves = 0.7 * small + rng.standard_normal(64)
    sleeves *= 3 / np.linalg.norm(sleeves)
    one = members(small, 14)
    assert cohesion_ratio(issue(one[:8]), issue(one[8:])) >= 0.9
    assert cohesion_ratio(issue(one[:8]), issue(members(sleeves, 6))) < 0.9


def _returning(customers: int, issue_reach: int) -> list[str]:
    """Issues reopened after `customers` distinct customers complain past the resolution."""
    resolved_at = datetime(2026, 1, 1, tzinfo=UTC)
    issue = {
        "id": "i1",
        "status": "resolved",
        "resolved_at": resolved_at,
        "distinct_customers": issue_reach,
        "stats": {},
    }
    result = BatchResult()
    touched: defaultdict[str, set[str]] = defaultdict(set)
    for n in range(customers):
        row = {
            "occurred_at": resolved_at + timedelta(days=1),
            "duplicate_of": None,
            "customer_id": f"c{n}",
        }
        _watch_regression(
            cast(IssueRow, issue),
            cast(FeedbackRow, row),
            PrioritizeSettings(),
            touched,
            result,
            now=resolved_at,
        )
    return result.reopened


def test_a_few_complaints_reopen_a_small_issue_but_a_residue_does_not_reopen_a_large_one() -> None:
    assert _returning(3, issue_reach=7) == ["i1"]
    assert _returning(6, issue_reach=107) == []
    assert _returning(11, issue_reach=107) == ["i1"]
