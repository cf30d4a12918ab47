"""The events prioritize emits about issues, built from issue rows."""

from datetime import datetime
from typing import Any

from feedloop.common.events import (
    FeedbackPrioritized,
    FeedbackRef,
    IssueUpdated,
    Priority,
    deterministic_id,
)
from feedloop.prioritize.outbox import outbox_row
from feedloop.prioritize.rows import FeedbackRow, IssueRow


def issue_updated(issue: IssueRow, changes: list[str]) -> IssueUpdated:
    """Returns the issue.updated payload of an issue row (at its current version)."""
    return IssueUpdated(
        issue_id=issue["id"],
        version=issue["version"],
        title=issue["title"],
        theme=issue["theme"],
        status=issue["status"],
        owner=issue["owner"],
        planned_action=issue["planned_action"],
        resolution_message=issue["resolution_message"],
        is_pattern=issue["is_pattern"],
        severity=issue["severity"],
        priority=issue["priority"],
        feedback_count=issue["feedback_count"],
        distinct_customers=issue["distinct_customers"],
        changes=sorted(set(changes)),
        resolved_at=issue["resolved_at"],
        merged_into=issue["merged_into"],
    )


def issue_updated_row(
    issue: IssueRow, changes: list[str], *, prefix: str, now: datetime
) -> dict[str, Any]:
    """Returns the outbox row of an issue.updated event; its id is issue id + version."""
    return outbox_row(
        issue_updated(issue, changes),
        event_id=deterministic_id("issue.updated", issue["id"], str(issue["version"])),
        key=issue["id"],
        correlation_id=issue["id"],
        prefix=prefix,
        now=now,
    )


def feedback_prioritized_row(
    feedback: FeedbackRow,
    issue: IssueRow,
    *,
    correlation_id: str,
    prefix: str,
    now: datetime,
    revision: str | None = None,
) -> dict[str, Any]:
    """Returns the outbox row of a feedback.prioritized event; its id is feedback id + issue.

    A re-analysed item names its new enrichment as `revision`: moved back to an issue it left
    before, it must not repeat that link's id, which notify already dropped as seen.
    """
    payload = FeedbackPrioritized(
        feedback=FeedbackRef.model_validate(feedback["ref"]),
        issue_id=issue["id"],
        issue_status=issue["status"],
        is_pattern=issue["is_pattern"],
        severity=issue["severity"],
        priority=issue["priority"],
        kind="complaint",
    )
    return outbox_row(
        payload,
        event_id=deterministic_id(
            "feedback.prioritized", feedback["id"], issue["id"], *([revision] if revision else [])
        ),
        key=issue["id"],
        correlation_id=correlation_id,
        prefix=prefix,
        now=now,
    )


def group_id_of(kind: str, *, theme: str, feedback_id: str, revision: str | None = None) -> str:
    """Returns the id of the group a non-complaint waits on (the `issue_id` of its events).

    Praise waits on its theme's praise pattern and a remark on its theme's remark group; a
    question is a one-off issue of its own (the answer queue's item id).
    """
    if kind == "question":
        return deterministic_id("question", feedback_id, *([revision] if revision else []))
    return deterministic_id(kind, theme)


def kind_prioritized_row(
    feedback: FeedbackRow,
    *,
    correlation_id: str,
    prefix: str,
    now: datetime,
    revision: str | None = None,
) -> dict[str, Any]:
    """Returns the outbox row of a feedback.prioritized event of praise, a question or a remark.

    Its id is feedback id + group id, like a complaint's: notify links the item to its group.
    """
    kind = feedback["kind"] or "remark"
    group = group_id_of(
        kind, theme=feedback["theme"], feedback_id=feedback["id"], revision=revision
    )
    payload = FeedbackPrioritized(
        feedback=FeedbackRef.model_validate(feedback["ref"]),
        issue_id=group,
        issue_status="new",
        is_pattern=kind == "praise",
        severity="low",
        priority=Priority(score=0.0, formula=f"{kind}: not ranked among complaints"),
        kind=kind,
    )
    return outbox_row(
        payload,
        event_id=deterministic_id(
            "feedback.prioritized", feedback["id"], group, *([revision] if revision else [])
        ),
        key=group,
        correlation_id=correlation_id,
        prefix=prefix,
        now=now,
    )
