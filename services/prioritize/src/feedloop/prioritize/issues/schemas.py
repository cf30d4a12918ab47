"""Request and response models of the issues API."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from feedloop.common.events import IssueStatus, Priority, Sentiment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
IssueSort = Literal[
    "-priority", "priority", "-last_seen", "last_seen", "-created_at", "created_at", "-customers"
]


class IssueRead(BaseModel):
    """An issue as the API shows it."""

    id: str
    version: int
    title: str
    theme: str
    status: IssueStatus
    owner: str | None
    planned_action: str | None
    resolution_message: str | None
    effort: float | None
    is_pattern: bool = Field(description="Reported by enough distinct customers in the window.")
    severity: str
    priority: Priority
    feedback_count: int
    distinct_customers: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    merged_into: str | None
    directions: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "How many of the issue's reports name each pole of its theme (e.g. small / large): "
            "a complaint naming the pole opposite to the majority's never joins the issue."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _directions_from_stats(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "directions" not in data and "stats" in data:
            return {**data, "directions": dict((data["stats"] or {}).get("directions") or {})}
        return data


class IssueList(BaseModel):
    """One page of issues."""

    items: list[IssueRead]
    total: int
    limit: int
    offset: int


class FeedbackSample(BaseModel):
    """A representative feedback item of an issue (closest to its centroid)."""

    feedback_id: str
    customer_id: str
    channel: str
    text: str
    sentiment: Sentiment | None
    occurred_at: datetime
    similarity: float
    duplicate_of: str | None


class StatusChangeRead(BaseModel):
    """One entry of an issue's status history."""

    status: IssueStatus
    previous: IssueStatus | None
    changed_by: str
    note: str | None
    at: datetime


class IssueDetail(IssueRead):
    """An issue with representative feedback and its status history."""

    representative_feedback: list[FeedbackSample]
    status_history: list[StatusChangeRead]


class IssuePatch(BaseModel):
    """Changes to an issue; fields left out stay as they are, null clears them."""

    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    status: IssueStatus | None = None
    planned_action: Text | None = None
    resolution_message: Text | None = Field(
        default=None, description="Customer-facing; required to resolve."
    )
    effort: float | None = Field(default=None, gt=0, le=100)
    note: Text | None = Field(default=None, description="Kept in the status history.")


class IssueMerge(BaseModel):
    """Merge this issue into another one."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=64)


class IssueSplit(BaseModel):
    """Move some feedback of this issue into a new issue."""

    model_config = ConfigDict(extra="forbid")

    feedback_ids: list[str] = Field(min_length=1, max_length=10_000)
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class FollowupComment(BaseModel):
    """A comment a customer left with their follow-up answer (PII-redacted)."""

    answer: Literal["yes", "no"]
    text: str
    at: datetime


class FollowupSummary(BaseModel):
    """Answers to "Is it fixed for you?" after an issue's resolution."""

    issue_id: str
    answers: int
    yes: int
    no: int
    confirmation_rate: float | None = Field(description="yes / answers; null without answers.")
    comments: list[FollowupComment]
