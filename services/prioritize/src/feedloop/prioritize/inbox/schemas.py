"""Request and response models of the answer queue (`/v1/inbox`)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AnswerText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
InboxStatus = Literal["open", "answered", "pattern", "resolved"]
"""open: waits for an answer; answered; pattern or resolved: an incident that left the queue
because its issue became a pattern or was resolved (its reporter is told about the fix)."""
InboxKind = Literal["question", "incident"]


class InboxItemRead(BaseModel):
    """A question or a one-off incident waiting for (or given) an owner's answer."""

    id: str = Field(description="The one-off issue id of kind question (on `prioritized`).")
    kind: InboxKind = Field(
        default="question",
        description="question, or incident: a one-off complaint about one order or ticket.",
    )
    reason: str | None = Field(default=None, description="Why the item is in the queue.")
    issue_id: str | None = Field(
        default=None, description="An incident's complaint issue (its pattern, if it becomes one)."
    )
    feedback_id: str
    customer_id: str
    theme: str
    language: str | None
    text: str = Field(description="The customer's text, PII-redacted by enrich.")
    order_refs: list[str] = Field(description="Order or ticket references the text names.")
    status: InboxStatus
    owner: str | None
    answer: str | None
    answered_by: str | None
    received_at: datetime
    answered_at: datetime | None
    sla_age_s: float = Field(description="Seconds from receipt to the answer (or to now).")
    overdue: bool = Field(description="Open longer than the answer SLA (inbox_sla_hours).")


class InboxList(BaseModel):
    """A page of the answer queue, oldest first."""

    items: list[InboxItemRead]
    total: int
    limit: int
    offset: int


class InboxAnswer(BaseModel):
    """An owner's answer: notify delivers it to the customer (outcome `answered`)."""

    model_config = ConfigDict(extra="forbid")

    answer: AnswerText
    owner: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
