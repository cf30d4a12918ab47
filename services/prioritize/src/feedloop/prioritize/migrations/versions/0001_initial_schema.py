"""initial schema"""

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import (
    create_indexes,
    create_outbox_table,
    drop_indexes,
    drop_tables,
)

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Applies this revision: one function per table."""
    _create_feedback()
    _create_issue()
    _create_issue_customer()
    _create_issue_status_change()
    create_outbox_table()
    _create_theme_day()


def _create_feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=True),
        sa.Column("duplicate_of", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.String(length=200), nullable=True),
        sa.Column("tier", sa.String(length=20), nullable=True),
        sa.Column("arr", sa.Float(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=True),
        sa.Column("sentiment_label", sa.String(length=10), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("is_complaint", sa.Boolean(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("csat", sa.JSON(), nullable=True),
        sa.Column("ces", sa.JSON(), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("enrichment", sa.JSON(), nullable=False),
        sa.Column("ref", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_to_close_s", sa.Float(), nullable=True),
        sa.Column("close_outcome", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes(
        "feedback",
        {
            "ix_feedback_issue_id": ["issue_id"],
            "ix_feedback_occurred": ["occurred_at"],
            "ix_feedback_theme_occurred": ["theme", "occurred_at"],
        },
    )


def _create_issue() -> None:
    op.create_table(
        "issue",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("planned_action", sa.Text(), nullable=True),
        sa.Column("resolution_message", sa.Text(), nullable=True),
        sa.Column("effort", sa.Float(), nullable=True),
        sa.Column("is_pattern", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("priority_score", sa.Float(), nullable=False),
        sa.Column("priority", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("feedback_count", sa.Integer(), nullable=False),
        sa.Column("distinct_customers", sa.Integer(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes(
        "issue",
        {"ix_issue_theme_last_seen": ["theme", "last_seen"]},
    )


def _create_issue_customer() -> None:
    op.create_table(
        "issue_customer",
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("last_feedback_id", sa.String(length=64), nullable=False),
        sa.Column("last_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "customer_id"),
    )


def _create_issue_status_change() -> None:
    op.create_table(
        "issue_status_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("previous", sa.String(length=20), nullable=True),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes(
        "issue_status_change",
        {"ix_issue_status_change_issue": ["issue_id"]},
    )


def _create_theme_day() -> None:
    op.create_table(
        "theme_day",
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("theme", "day"),
    )


def downgrade() -> None:
    drop_tables("theme_day", "outbox")
    drop_indexes("issue_status_change", ["ix_issue_status_change_issue"])
    drop_tables("issue_status_change", "issue_customer")
    drop_indexes("issue", ["ix_issue_theme_last_seen"])
    drop_tables("issue")
    drop_indexes(
        "feedback", ["ix_feedback_theme_occurred", "ix_feedback_occurred", "ix_feedback_issue_id"]
    )
    drop_tables("feedback")
