"""Event payloads the tests of several packages build alike."""

from datetime import UTC, datetime
from typing import Any

from feedloop.common.events import FeedbackClosed


def feedback_closed(
    feedback_id: str,
    *,
    issue_id: str = "i1",
    customer_id: str = "c1",
    channel: str = "email",
    outcome: str = "delivered",
    at: datetime | None = None,
    seconds: float = 1.0,
) -> FeedbackClosed:
    """A feedback.closed payload closed `at` (now by default); delivered then too when the
    outcome is "delivered"."""
    at = at or datetime.now(UTC)
    fields: dict[str, Any] = {"channel": channel, "outcome": outcome}
    return FeedbackClosed(
        feedback_id=feedback_id,
        issue_id=issue_id,
        customer_id=customer_id,
        delivered_at=at if outcome == "delivered" else None,
        closed_at=at,
        time_to_close_seconds=seconds,
        **fields,
    )
