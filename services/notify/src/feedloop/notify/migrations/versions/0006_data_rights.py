"""erasure_request, erasure_confirmation and audit_entry: data-rights requests and the audit log"""

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import create_audit_entry_table, create_indexes, drop_tables

revision: str = "0006"
down_revision: str | None = "0003"


def upgrade() -> None:
    """Applies this revision: one function per table."""
    op.create_table(
        "erasure_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("topic_cut", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("erasure_request", {"ix_erasure_request_customer": ["customer_id"]})
    op.create_table(
        "erasure_confirmation",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "service"),
    )
    create_audit_entry_table()


def downgrade() -> None:
    drop_tables("audit_entry", "erasure_confirmation", "erasure_request")
