"""Tables: feedback, issues and their customers, status history, closures, daily counts, outbox."""

from datetime import datetime
from typing import Any

from feedloop.common.audit import AuditColumns
from feedloop.common.db import UtcDateTime, table_of
from feedloop.common.outbox import OutboxColumns
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every prioritize table."""

    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Feedback(Base):
    """One enriched feedback item (text redacted), kept for grouping and KPIs."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_issue_id", "issue_id"),
        Index("ix_feedback_theme_occurred", "theme", "occurred_at"),
        Index("ix_feedback_occurred", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    issue_id: Mapped[str | None] = mapped_column(String(64))
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(20))
    arr: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(20))
    theme: Mapped[str | None] = mapped_column(String(200))
    sentiment_label: Mapped[str] = mapped_column(String(10))
    sentiment_score: Mapped[float] = mapped_column(Float)
    is_complaint: Mapped[bool] = mapped_column(Boolean)
    nps: Mapped[int | None] = mapped_column(Integer)
    csat: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ces: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rating: Mapped[float | None] = mapped_column(Float, doc="Review/in-app rating scaled to 0..1.")
    text: Mapped[str] = mapped_column(Text)
    enrichment: Mapped[dict[str, Any]] = mapped_column(JSON, doc="Without the embedding.")
    ref: Mapped[dict[str, Any]] = mapped_column(JSON, doc="events.FeedbackRef as JSON.")
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, doc="float32 vector.")
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    stored_at: Mapped[datetime]
    enriched_at: Mapped[datetime | None] = mapped_column(
        doc="When enrich made the stored enrichment (its event's occurred_at): newer replaces."
    )
    closed_at: Mapped[datetime | None]
    time_to_close_s: Mapped[float | None] = mapped_column(Float)
    close_outcome: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(
        String(10), doc="complaint, praise, question or remark (kinds.kind_of); None: before 0004."
    )


class Issue(Base):
    """A group of complaints: a recurring pattern or a one-off incident."""

    __tablename__ = "issue"
    __table_args__ = (Index("ix_issue_theme_last_seen", "theme", "last_seen"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    theme: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    planned_action: Mapped[str | None] = mapped_column(Text)
    resolution_message: Mapped[str | None] = mapped_column(Text)
    effort: Mapped[float | None] = mapped_column(Float)
    is_pattern: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(10))
    priority_score: Mapped[float] = mapped_column(Float)
    priority: Mapped[dict[str, Any]] = mapped_column(JSON)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, doc="Running sums behind the priority.")
    feedback_count: Mapped[int] = mapped_column(Integer)
    distinct_customers: Mapped[int] = mapped_column(Integer)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    merged_into: Mapped[str | None] = mapped_column(String(64))


class IssueCustomer(Base):
    """A customer who reported an issue: counts each customer once, spots near-duplicates."""

    __tablename__ = "issue_customer"

    issue_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    reports: Mapped[int] = mapped_column(Integer)
    last_feedback_id: Mapped[str] = mapped_column(String(64))
    last_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    first_at: Mapped[datetime]


class IssueStatusChange(Base):
    """One status transition of an issue, kept as history."""

    __tablename__ = "issue_status_change"
    __table_args__ = (Index("ix_issue_status_change_issue", "issue_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    previous: Mapped[str | None] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class ThemeDay(Base):
    """Feedback volume per theme and day: the trend baseline and the volume denominator."""

    __tablename__ = "theme_day"

    theme: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)


class FeedbackDay(Base):
    """KPI sums per UTC day and dimension, kept by triggers on `feedback` (kpis/rollup.py).

    '' stands for a missing value in the key; holds no personal data, only counts and sums."""

    __tablename__ = "feedback_day"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    theme: Mapped[str] = mapped_column(String(200), primary_key=True)
    segment: Mapped[str] = mapped_column(String(200), primary_key=True)
    tier: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(20), primary_key=True)
    csat_method: Mapped[str] = mapped_column(String(20), primary_key=True)
    ces_scale: Mapped[str] = mapped_column(String(60), primary_key=True)
    feedback: Mapped[int] = mapped_column(BigInteger)
    complaints: Mapped[int] = mapped_column(BigInteger)
    praise: Mapped[int] = mapped_column(BigInteger, doc="Kind praise (before 0004: positive).")
    sentiment_micro: Mapped[int] = mapped_column(BigInteger, doc="Sum of sentiment x 1e6.")
    negative: Mapped[int] = mapped_column(BigInteger, doc="Items of sentiment below 0.")
    nps_n: Mapped[int] = mapped_column(BigInteger)
    promoters: Mapped[int] = mapped_column(BigInteger)
    detractors: Mapped[int] = mapped_column(BigInteger)
    csat_n: Mapped[int] = mapped_column(BigInteger)
    csat_hits: Mapped[int] = mapped_column(BigInteger, doc="Top(-2)-box answers by method.")
    csat_norm_micro: Mapped[int] = mapped_column(BigInteger, doc="Mean method: sum x 1e6.")
    ces_n: Mapped[int] = mapped_column(BigInteger)
    ces_score_sum: Mapped[int] = mapped_column(BigInteger)
    ces_easy: Mapped[int] = mapped_column(BigInteger, doc="Answers of ease >= 2/3.")
    complaint_nps_n: Mapped[int] = mapped_column(BigInteger, doc="NPS answers of complaints.")
    complaint_promoters: Mapped[int] = mapped_column(BigInteger)
    complaint_detractors: Mapped[int] = mapped_column(BigInteger)


class InboxItem(Base):
    """A question or one-order request waiting for an owner's answer: a one-off issue of kind
    question (its id is the issue id on `prioritized`), or a one-off complaint (an incident of
    one order) while its issue is no pattern. Erasure: deleted by customer_id."""

    __tablename__ = "inbox_item"
    __table_args__ = (
        Index("ix_inbox_item_status_received", "status", "received_at"),
        Index("ix_inbox_item_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feedback_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    text: Mapped[str] = mapped_column(Text, doc="The customer's text as enrich redacted it.")
    order_refs: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), doc="open or answered.")
    kind: Mapped[str] = mapped_column(
        String(10),
        server_default="question",
        doc="question, or incident: a one-off complaint answered individually.",
    )
    issue_id: Mapped[str | None] = mapped_column(
        String(64), doc="An incident's complaint issue when it was queued."
    )
    reason: Mapped[str | None] = mapped_column(String(300), doc="Why it is in the queue.")
    owner: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    correlation_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class FeedbackNote(Base):
    """An internal note a person wrote on one feedback item (never sent to the customer).

    Erasure: deleted with the customer's feedback data (rights.erase_customer)."""

    __tablename__ = "feedback_note"
    __table_args__ = (Index("ix_feedback_note_feedback", "feedback_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feedback_id: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200), doc="The person, as the caller names them.")
    client_id: Mapped[str] = mapped_column(String(200), doc="The API client that wrote it.")
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class OutboxEvent(OutboxColumns, Base):
    """An event written in the same transaction as the change it reports; relayed to Kafka."""

    __tablename__ = "outbox"


class AuditEntry(AuditColumns, Base):
    """One administrative action (feedloop.common.audit): status changes, resolutions."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at"), Index("ix_audit_entry_target", "target_id"))


# The Core tables, declared once: every query, insert and update of the service uses these.
feedback_t = table_of(Feedback)
issue_t = table_of(Issue)
customer_t = table_of(IssueCustomer)
history_t = table_of(IssueStatusChange)
theme_day_t = table_of(ThemeDay)
audit_t = table_of(AuditEntry)
inbox_t = table_of(InboxItem)
feedback_day_t = table_of(FeedbackDay)
feedback_note_t = table_of(FeedbackNote)
