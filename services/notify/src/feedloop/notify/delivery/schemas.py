"""Response models of the notification routes."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class NotificationRead(BaseModel):
    """What a feedback item is owed, and how far its delivery got."""

    id: str
    feedback_id: str
    kind: Literal["acknowledgement", "resolution", "answer", "thanks", "note"]
    issue_id: str
    customer_id: str
    delivery_id: str = Field(
        description="Shared by one customer's items on one issue; the "
        "idempotency key of the webhook and the e-mail Message-ID."
    )
    channel: Literal["webhook", "email", "none"]
    status: Literal["pending", "sending", "done"]
    outcome: str | None = Field(
        description="delivered, opted_out, erased, capped, no_channel, failed or superseded; "
        "null while pending."
    )
    attempts: int
    resends: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    closed_at: datetime | None


class NotificationList(BaseModel):
    """A page of notifications, newest first."""

    items: list[NotificationRead]
    total: int
    limit: int
    offset: int
