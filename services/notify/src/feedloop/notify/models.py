"""Tables: customers and preferences, issues, linked feedback, notifications, the send queue."""

from datetime import datetime
from typing import Any

from feedloop.common.audit import AuditColumns
from feedloop.common.db import UtcDateTime, table_of
from feedloop.common.outbox import OutboxColumns
from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every notify table."""

    type_annotation_map = {datetime: UtcDateTime}


class Customer(Base):
    """A customer's contact data (the only PII notify keeps) and erasure tombstone."""

    __tablename__ = "customer"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_source: Mapped[str | None] = mapped_column(
        String(200), doc="The source system that gave the e-mail; only it may change it."
    )
    locale: Mapped[str | None] = mapped_column(String(35))
    erased_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Preference(Base):
    """A customer's opt-out of one channel ("webhook", "email") or of "all"."""

    __tablename__ = "preference"

    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class IssueState(Base):
    """What notify knows of an issue: the newest version seen wins."""

    __tablename__ = "issue_state"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(String(300))
    resolution_message: Mapped[str | None] = mapped_column(Text)
    resolutions: Mapped[int] = mapped_column(Integer, doc="Times it became resolved.")
    merged_into: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    kind: Mapped[str | None] = mapped_column(
        String(10), doc="complaint, praise, question or remark: what its items are owed."
    )


class FeedbackLink(Base):
    """A feedback item waiting on an issue, and how its loop was closed."""

    __tablename__ = "feedback_link"
    __table_args__ = (
        Index("ix_feedback_link_issue", "issue_id"),
        Index("ix_feedback_link_customer", "customer_id"),
    )

    feedback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(200))
    source_system: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20), doc="Where the feedback came from.")
    correlation_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]
    linked_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_outcome: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(10), doc="The item's kind; None: complaint.")


class ProcessedEvent(Base):
    """Event ids already applied: a replayed `prioritized` record changes nothing."""

    __tablename__ = "processed_event"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime]


class Delivery(Base):
    """One message to one customer about one issue (of one kind): the unit of the send queue.

    Its id is the idempotency key on the wire (webhook header, e-mail Message-ID). `round`
    counts the issue's resolutions, so that a reopened and again resolved issue tells its new
    reporters too.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint(
            "customer_id", "issue_id", "kind", "round", name="uq_delivery_customer_issue_kind"
        ),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    issue_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    round: Mapped[int] = mapped_column(Integer, doc="Which resolution of the issue it belongs to.")
    channel: Mapped[str] = mapped_column(String(10))
    source_system: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text, doc="The resolution message, as resolved.")
    status: Mapped[str] = mapped_column(String(12), doc="pending, sending or done.")
    outcome: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    cap_day: Mapped[str | None] = mapped_column(String(10), doc="UTC day whose cap slot it holds.")
    last_error: Mapped[str | None] = mapped_column(Text)
    resends: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class Notification(Base):
    """What one feedback item is owed (an acknowledgement, a resolution): one per kind."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("feedback_id", "kind", name="uq_notification_feedback_kind"),
        Index("ix_notification_delivery", "delivery_id"),
        Index("ix_notification_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feedback_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    issue_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class CapCounter(Base):
    """Messages sent (or in flight) to a customer on one UTC day, against the daily cap."""

    __tablename__ = "cap_counter"

    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    sent: Mapped[int] = mapped_column(Integer)


class OutboxEvent(OutboxColumns, Base):
    """A `feedback.closed` event or a dead letter, written with the change it reports."""

    __tablename__ = "outbox"


class ErasureRequest(Base):
    """A customer's erasure request: published on `customer-requests`, confirmed per service."""

    __tablename__ = "erasure_request"
    __table_args__ = (Index("ix_erasure_request_customer", "customer_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime]
    services: Mapped[list[Any]] = mapped_column(JSON, doc="The services expected to confirm.")
    topic_cut: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="Offsets the topics must start from once erased (topic_erasure.TopicCut)."
    )


class ErasureConfirmation(Base):
    """One service's `customer.erased` confirmation of a request."""

    __tablename__ = "erasure_confirmation"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(40), primary_key=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    erased_at: Mapped[datetime]


class AuditEntry(AuditColumns, Base):
    """One administrative action (feedloop.common.audit)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at"), Index("ix_audit_entry_target", "target_id"))


customer_t = table_of(Customer)
preference_t = table_of(Preference)
issue_t = table_of(IssueState)
link_t = table_of(FeedbackLink)
processed_t = table_of(ProcessedEvent)
delivery_t = table_of(Delivery)
notification_t = table_of(Notification)
cap_t = table_of(CapCounter)
outbox_t = table_of(OutboxEvent)
erasure_request_t = table_of(ErasureRequest)
erasure_confirmation_t = table_of(ErasureConfirmation)
audit_t = table_of(AuditEntry)
