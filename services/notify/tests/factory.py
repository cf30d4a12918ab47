"""Events on `prioritized` as prioritize emits them, for driving notify in tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import (
    Envelope,
    FeedbackPrioritized,
    FeedbackRef,
    IssueUpdated,
    Priority,
    Sentiment,
    deterministic_id,
)
from feedloop.common.feedback import Channel, Customer

RECEIVED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def linked(
    feedback_id: str,
    issue_id: str,
    customer: str,
    *,
    email: str | None = None,
    source: str = "shop",
    channel: Channel | str = Channel.REVIEW,
    locale: str | None = "en-GB",
    status: str = "new",
    severity: str = "medium",
    nps: int | None = None,
    received_at: datetime = RECEIVED,
    kind: str | None = None,
    sentiment: Sentiment | None = None,
) -> Envelope[Any]:
    """A feedback.prioritized event: a feedback item linked to an issue (or a group: kind)."""
    payload = FeedbackPrioritized(
        feedback=FeedbackRef(
            feedback_id=feedback_id,
            source_system=source,
            external_id=f"ext-{feedback_id}",
            channel=Channel(channel),
            customer=Customer(id=customer, email=email),
            locale=locale,
            occurred_at=received_at - timedelta(minutes=5),
            received_at=received_at,
            sentiment=sentiment or Sentiment(label="negative", score=-0.7, confidence=0.9),
            survey_scores={"nps": nps} if nps is not None else {},
        ),
        issue_id=issue_id,
        issue_status=status,
        is_pattern=True,
        severity=severity,
        priority=Priority(score=10.0),
        kind=kind,
    )
    return Envelope.wrap(
        payload,
        event_id=deterministic_id("feedback.prioritized", feedback_id, issue_id),
        producer="prioritize",
        correlation_id=f"corr-{feedback_id}",
    )


def issue(
    issue_id: str,
    version: int,
    status: str,
    *,
    message: str | None = None,
    severity: str = "medium",
    merged_into: str | None = None,
    kind: str | None = None,
) -> Envelope[Any]:
    """An issue.updated event."""
    payload = IssueUpdated(
        issue_id=issue_id,
        version=version,
        title=f"Issue {issue_id}",
        theme="sizing_fit",
        status=status,
        resolution_message=message,
        is_pattern=True,
        severity=severity,
        priority=Priority(score=10.0),
        feedback_count=1,
        distinct_customers=1,
        resolved_at=datetime.now(UTC) if status == "resolved" else None,
        merged_into=merged_into,
        kind=kind,
    )
    return Envelope.wrap(
        payload,
        event_id=deterministic_id("issue.updated", issue_id, str(version)),
        producer="prioritize",
        correlation_id=issue_id,
    )


def records(envelopes: list[Envelope[Any]], prefix: str) -> list[OutgoingRecord]:
    """Encodes events for `prioritized`, keyed by issue id as prioritize keys them."""
    return [encode(e, key=e.payload.issue_id, prefix=prefix) for e in envelopes]
