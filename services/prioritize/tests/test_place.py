"""Placing complaints is pure: the batch's grouping state decides, nothing is read or written."""

from collections import defaultdict
from datetime import UTC, datetime

from feedloop.prioritize.issues.assign import (
    BatchResult,
    Grouping,
    Incoming,
    _place,
    feedback_row,
)
from feedloop.prioritize.issues.reenrich import Replaced
from feedloop.prioritize.settings import PrioritizeSettings

from .factory import enriched

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def place(items: list[Incoming]) -> tuple[Grouping, BatchResult, list[dict[str, object]]]:
    grouping = Grouping(candidates=defaultdict(list), customers={})
    result = BatchResult()
    rows = [feedback_row(inc, now=NOW) for inc in items]
    for inc, row in zip(items, rows, strict=True):
        _place(inc, row, grouping, PrioritizeSettings(), result, Replaced(), now=NOW)
    return grouping, result, [dict(row) for row in rows]


def test_two_customers_complaining_alike_open_one_issue_and_a_repeat_is_a_duplicate() -> None:
    items = [
        Incoming(enriched("a1", customer="c-1", occurred_at=NOW), "corr-1", "e1"),
        Incoming(enriched("a2", customer="c-2", occurred_at=NOW), "corr-2", "e2"),
        Incoming(enriched("a3", customer="c-1", occurred_at=NOW, noise=0.0), "corr-3", "e3"),
    ]
    grouping, result, rows = place(items)
    assert result.issues_opened == 1
    (issue,) = grouping.issues.values()
    assert {row["issue_id"] for row in rows} == {issue["id"]}
    assert (issue["distinct_customers"], issue["feedback_count"]) == (2, 2)
    assert rows[2]["duplicate_of"] == rows[0]["id"]
    assert grouping.touched[issue["id"]] == {"created", "membership"}
    assert [corr for _, _, corr in grouping.linked] == ["corr-1", "corr-2", "corr-3"]
    assert grouping.day_counts[("sizing", "2026-11-24")] == [3, 3]


def test_praise_is_counted_but_joins_no_issue() -> None:
    praise = enriched("p1", label="positive", score=0.9, occurred_at=NOW)
    grouping, result, rows = place([Incoming(praise, "corr", "e1")])
    assert (result.issues_opened, rows[0]["issue_id"], grouping.linked) == (0, None, [])
    assert grouping.day_counts[("sizing", "2026-11-24")] == [1, 0]
