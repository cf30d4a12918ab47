"""Typed rows: what prioritize's functions pass each other, shaped like the tables in models.py.

An issue row holds its priority as the `Priority` model: it is dumped to JSON only when the row
is written (store.persist_issue) and read back into the model only when a row is loaded
(store.issue_of), so events and API answers take the model as it was computed.
"""

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from feedloop.common.events import Priority


class CsatSignal(TypedDict):
    """A CSAT answer as stored on a feedback row, with its score on a 0..1 scale."""

    score: int
    scale_min: int
    scale_max: int
    method: Literal["top_box", "top_2_box", "mean"]
    normalised: float


class CesSignal(TypedDict):
    """A CES answer as stored on a feedback row, with its ease on a 0..1 scale."""

    score: int
    scale_max: int
    direction: Literal["higher_is_easier", "lower_is_easier"]
    ease: float


class IssueStats(TypedDict):
    """Running sums behind an issue's priority (JSON in `issue.stats`)."""

    reports: int
    neg_sum: float
    detractors: int
    low_csat: int
    high_effort: int
    tier_sum: float
    arr_sum: float
    returning: NotRequired[list[str]]
    """Customers reporting a resolved issue again (rows from before it lack the key)."""
    directions: NotRequired[dict[str, int]]
    vectors: NotRequired[int]
    vector_norm: NotRequired[float]


class IssueRow(TypedDict):
    """One row of `issue`, its priority as the model."""

    id: str
    version: int
    title: str
    theme: str
    status: str
    owner: str | None
    planned_action: str | None
    resolution_message: str | None
    effort: float | None
    is_pattern: bool
    severity: str
    priority_score: float
    priority: Priority
    stats: IssueStats
    feedback_count: int
    distinct_customers: int
    centroid: bytes
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    merged_into: str | None


class FeedbackRow(TypedDict):
    """One row of `feedback`."""

    id: str
    event_id: str
    issue_id: str | None
    duplicate_of: str | None
    customer_id: str
    segment: str | None
    tier: str | None
    arr: float | None
    channel: str
    theme: str
    sentiment_label: str
    sentiment_score: float
    is_complaint: bool
    nps: int | None
    csat: CsatSignal | None
    ces: CesSignal | None
    rating: float | None
    text: str
    enrichment: dict[str, Any]
    """events.Enrichment as JSON, without the embedding."""
    ref: dict[str, Any]
    """events.FeedbackRef as JSON."""
    embedding: bytes | None
    occurred_at: datetime
    received_at: datetime
    stored_at: datetime
    enriched_at: datetime | None
    closed_at: datetime | None
    time_to_close_s: float | None
    close_outcome: str | None
    kind: str | None


class CustomerRow(TypedDict):
    """One row of `issue_customer`: a customer who reported an issue."""

    issue_id: str
    customer_id: str
    reports: int
    first_at: datetime
    last_feedback_id: NotRequired[str]
    last_embedding: NotRequired[bytes | None]


class HistoryRow(TypedDict):
    """One row of `issue_status_change`."""

    issue_id: str
    status: str
    previous: str | None
    changed_by: str
    note: str | None
    at: datetime
