"""Solicit's tables: touchpoints, invitations, skips, answers, blocked customers, outbox.

Erasure (`DELETE /v1/customers/{id}`): a customer's touchpoints, invitations, skips and answers
are deleted; what remains is a `blocked_customer` row holding only a SHA-256 of the id, so no
invitation ever reaches them again. Events already on raw-feedback are erased downstream by
the data-rights flow of the other stages, like any feedback.
"""

from datetime import datetime
from typing import Any

from feedloop.common.db import UtcDateTime, table_of
from feedloop.common.outbox import OutboxColumns
from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = 64
NAME = 200


class Base(DeclarativeBase):
    """Declarative base of the solicit store."""


class Touchpoint(Base):
    """A moment worth asking about, as an internal system reported it (once per id)."""

    __tablename__ = "touchpoint"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id", name="uq_touchpoint_source"),
        Index("ix_touchpoint_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(NAME))
    external_id: Mapped[str] = mapped_column(String(NAME))
    type: Mapped[str] = mapped_column(String(NAME))
    customer_id: Mapped[str] = mapped_column(String(NAME))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The customer (email, segment, locale, time zone), order and product refs, metadata."""


class Invitation(Base):
    """One invitation per (program, touchpoint): the unique constraint makes it exactly one."""

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("program_id", "touchpoint_id", name="uq_invitation_program_touchpoint"),
        Index("ix_invitation_customer", "customer_id"),
        Index("ix_invitation_stage_due", "stage", "due_at"),
        Index("ix_invitation_sent", "sent_at"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    program_id: Mapped[str] = mapped_column(String(NAME))
    touchpoint_id: Mapped[str] = mapped_column(String(ID))
    customer_id: Mapped[str] = mapped_column(String(NAME))
    channel: Mapped[str] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(NAME), nullable=True)
    language: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(16))
    """scheduled -> sent -> reminded; or skipped / failed."""
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reminder_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SkipRecord(Base):
    """Why a (program, touchpoint) got no invitation."""

    __tablename__ = "skip"
    __table_args__ = (Index("ix_skip_customer", "customer_id"),)

    program_id: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    touchpoint_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(NAME))
    reason: Mapped[str] = mapped_column(String(32))
    skipped_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Answer(Base):
    """A customer's answer to one invitation: changed in place until it settles, then emitted."""

    __tablename__ = "answer"
    __table_args__ = (Index("ix_answer_pending", "emitted_at", "settles_at"),)

    invitation_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The scored answer as raw-feedback carries it (metric, scale, direction)."""
    comment: Mapped[str] = mapped_column(Text)
    first_answered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revisions: Mapped[int] = mapped_column(Integer)
    settles_at: Mapped[datetime] = mapped_column(UtcDateTime())
    emitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class BlockedCustomer(Base):
    """A customer who opted out of surveys or was erased: only a hash of the id is kept."""

    __tablename__ = "blocked_customer"

    customer_hash: Mapped[str] = mapped_column(String(ID), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    """opted_out, or erased (erased wins: it is never undone)."""
    blocked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Outbox(OutboxColumns, Base):
    """Events waiting to be relayed (feedback.received on raw-feedback)."""

    __tablename__ = "outbox"


touchpoint_t = table_of(Touchpoint)
invitation_t = table_of(Invitation)
skip_t = table_of(SkipRecord)
answer_t = table_of(Answer)
blocked_t = table_of(BlockedCustomer)
outbox_t = table_of(Outbox)
