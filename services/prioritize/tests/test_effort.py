"""The taxonomy's effort per theme reaches the priority through settings, shown as a factor."""

from datetime import UTC, datetime
from typing import Any

import pytest
from feedloop.prioritize.issues.evidence import Volumes, empty_stats
from feedloop.prioritize.issues.scoring import rescore
from feedloop.prioritize.settings import PrioritizeSettings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def issue(theme: str, **overrides: Any) -> dict[str, Any]:
    """An issue row of one theme with a few reports from a few customers."""
    stats = empty_stats() | {"reports": 6, "neg_sum": 4.2, "detractors": 3, "tier_sum": 1.8}
    return {
        "theme": theme,
        "stats": stats,
        "distinct_customers": 6,
        "last_seen": NOW,
        "effort": None,
    } | overrides


def effort_factor(row: dict[str, Any]) -> dict[str, Any]:
    (factor,) = [f for f in row["priority"]["factors"] if f["name"] == "effort"]
    return dict(factor)


def test_a_theme_costlier_in_the_taxonomy_ranks_lower_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FEEDLOOP_PRIORITIZE_EFFORT_BY_THEME", '{"delivery": 3.0, "price": 1.0}')
    settings = PrioritizeSettings(environment="test")
    volumes = Volumes({}, window_total=60)
    delivery, price, unknown = issue("delivery"), issue("price"), issue("sizing_fit")
    for row in (delivery, price, unknown):
        rescore(row, volumes, settings, now=NOW)
    assert delivery["priority_score"] == pytest.approx(price["priority_score"] / 3, abs=0.1)
    factor = effort_factor(delivery)
    assert factor["value"] == 3.0
    assert "from the taxonomy" in factor["reason"]
    assert "default" in effort_factor(unknown)["reason"]
    assert effort_factor(unknown)["value"] == settings.default_effort


def test_an_effort_set_on_the_issue_wins_over_the_taxonomy() -> None:
    settings = PrioritizeSettings(environment="test", effort_by_theme={"delivery": 3.0})
    row = issue("delivery", effort=0.5)
    rescore(row, Volumes({}, window_total=60), settings, now=NOW)
    factor = effort_factor(row)
    assert factor["value"] == 0.5
    assert "set on the issue" in factor["reason"]
