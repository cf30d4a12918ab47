"""initial schema"""

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import (
    create_indexes,
    create_outbox_table,
    create_processed_event_table,
    drop_indexes,
    drop_tables,
)

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Applies this revision: one function per table."""
    _create_cap_counter()
    _create_customer()
    _create_delivery()
    _create_feedback_link()
    _create_issue_state()
    _create_notification()
    create_outbox_table()
    _create_preference()
    create_processed_event_table()


def _create_cap_counter() -> None:
    op.create_table(
        "cap_counter",
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "day"),
    )


def _create_customer() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _create_delivery() -> None:
    op.create_table(
        "delivery",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("source_system", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("cap_day", sa.String(length=10), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "customer_id", "issue_id", "kind", "round", name="uq_delivery_customer_issue_kind"
        ),
    )
    create_indexes(
        "delivery",
        {"ix_delivery_customer": ["customer_id"], "ix_delivery_due": ["status", "next_attempt_at"]},
    )


def _create_feedback_link() -> None:
    op.create_table(
        "feedback_link",
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("source_system", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("correlation_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_outcome", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("feedback_id"),
    )
    create_indexes(
        "feedback_link",
        {"ix_feedback_link_customer": ["customer_id"], "ix_feedback_link_issue": ["issue_id"]},
    )


def _create_issue_state() -> None:
    op.create_table(
        "issue_state",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("resolution_message", sa.Text(), nullable=True),
        sa.Column("resolutions", sa.Integer(), nullable=False),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _create_notification() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feedback_id", "kind", name="uq_notification_feedback_kind"),
    )
    create_indexes(
        "notification",
        {"ix_notification_customer": ["customer_id"], "ix_notification_delivery": ["delivery_id"]},
    )


def _create_preference() -> None:
    op.create_table(
        "preference",
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "channel"),
    )


def downgrade() -> None:
    drop_tables("processed_event", "preference", "outbox")
    drop_indexes("notification", ["ix_notification_delivery", "ix_notification_customer"])
    drop_tables("notification", "issue_state")
    drop_indexes("feedback_link", ["ix_feedback_link_issue", "ix_feedback_link_customer"])
    drop_tables("feedback_link")
    drop_indexes("delivery", ["ix_delivery_due", "ix_delivery_customer"])
    drop_tables("delivery", "customer", "cap_counter")
