"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import (
    add_outbox_attempt_columns,
    create_indexes,
    create_outbox_table,
    drop_tables,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision: one function per table."""
    _create_touchpoint()
    _create_invitation()
    _create_skip()
    _create_answer()
    _create_blocked_customer()
    create_outbox_table()
    add_outbox_attempt_columns()


def _create_touchpoint() -> None:
    op.create_table(
        "touchpoint",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source_system", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.UniqueConstraint("source_system", "external_id", name="uq_touchpoint_source"),
    )
    create_indexes("touchpoint", {"ix_touchpoint_customer": ["customer_id"]})


def _create_invitation() -> None:
    op.create_table(
        "invitation",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("program_id", sa.String(200), nullable=False),
        sa.Column("touchpoint_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("program_id", "touchpoint_id", name="uq_invitation_program_touchpoint"),
    )
    create_indexes(
        "invitation",
        {
            "ix_invitation_customer": ["customer_id"],
            "ix_invitation_stage_due": ["stage", "due_at"],
            "ix_invitation_sent": ["sent_at"],
        },
    )


def _create_skip() -> None:
    op.create_table(
        "skip",
        sa.Column("program_id", sa.String(200), primary_key=True),
        sa.Column("touchpoint_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("skipped_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_indexes("skip", {"ix_skip_customer": ["customer_id"]})


def _create_answer() -> None:
    op.create_table(
        "answer",
        sa.Column("invitation_id", sa.String(64), primary_key=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("first_answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.Column("settles_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=True),
    )
    create_indexes("answer", {"ix_answer_pending": ["emitted_at", "settles_at"]})


def _create_blocked_customer() -> None:
    op.create_table(
        "blocked_customer",
        sa.Column("customer_hash", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Reverts this revision."""
    drop_tables("outbox", "blocked_customer", "answer", "skip", "invitation", "touchpoint")
