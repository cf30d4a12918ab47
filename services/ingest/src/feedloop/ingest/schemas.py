"""Request and response models of the ingest API."""

from typing import Any, Literal

from pydantic import BaseModel, Field

ItemStatus = Literal["accepted", "duplicate", "rejected", "unavailable"]


class FieldError(BaseModel):
    """One invalid field of an item."""

    field: str
    message: str
    type: str


class FeedbackAccepted(BaseModel):
    """The answer to one accepted (or already known) feedback item."""

    feedback_id: str
    status: Literal["accepted", "duplicate"]
    topic: str = "raw-feedback"


class BatchItemResult(BaseModel):
    """The outcome of one item of a batch, by its index in the request."""

    index: int
    status: ItemStatus
    feedback_id: str | None = None
    external_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
    reason: str | None = None


class BatchResult(BaseModel):
    """Per-item outcomes of a batch and their counts."""

    accepted: int
    duplicate: int
    rejected: int
    unavailable: int
    results: list[BatchItemResult]


class FeedbackBatchCreate(BaseModel):
    """A batch of feedback items; each is validated on its own."""

    items: list[dict[str, Any]] = Field(min_length=1)
