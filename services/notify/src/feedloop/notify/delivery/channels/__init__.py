"""The ways a notification reaches a customer: the originating system's webhook, or e-mail."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict

Verdict = Literal["delivered", "retry", "permanent"]


class FeedbackRef(TypedDict):
    """A feedback item a message is about, as channels and templates see it."""

    feedback_id: str
    external_id: str
    source_system: str
    channel: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One claimed delivery, with everything its channel needs."""

    delivery_id: str
    lease_token: str
    kind: str
    round: int
    channel: str
    customer_id: str
    issue_id: str
    source_system: str
    attempts: int
    created_at: datetime
    email: str | None
    locale: str | None
    message: str | None
    feedback: list[FeedbackRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a channel made of one attempt."""

    verdict: Verdict
    error: str | None = None
    retry_after_s: float | None = None
    duration_s: float = 0.0
