"""The taxonomy's effort per theme reaches the priority through settings, shown as a factor."""

from datetime import UTC, datetime
from typing import Any

import pytest
from feedloop.prioritize.issues.evidence import Volumes, empty_stats
from feedloop.prioritize.issues.scoring import rescore
from feedloop.prioritize.issues.store import new_issue
from feedloop.prioritize.rows import IssueRow
from feedloop.prioritize.settings import PrioritizeSettings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def issue(theme: str, effort: float | None = None) -> IssueRow:
    """An issue row of one theme with a few reports from a few customers."""
    row = new_issue(issue_id=f"i-{theme}", theme=theme, title=theme, at=NOW, now=NOW)
    stats = row["stats"] = empty_stats()
    stats["reports"], stats["neg_sum"], stats["detractors"], stats["tier_sum"] = 6, 4.2, 3, 1.8
    row["distinct_customers"], row["effort"] = 6, effort
    return row


def effort_factor(row: IssueRow) -> dict[str, Any]:
    (factor,) = [f for f in row["priority"].factors if f.name == "effort"]
    return factor.model_dump()


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
