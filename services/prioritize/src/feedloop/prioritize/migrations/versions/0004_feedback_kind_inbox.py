"""feedback.kind (complaint, praise, question, remark) and the answer queue (inbox_item)"""

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import add_kind_columns, drop_kind_columns

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    add_kind_columns("feedback")
    op.create_table(
        "inbox_item",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("order_refs", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feedback_id"),
    )
    op.create_index("ix_inbox_item_status_received", "inbox_item", ["status", "received_at"])
    op.create_index("ix_inbox_item_customer", "inbox_item", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_item_customer", table_name="inbox_item")
    op.drop_index("ix_inbox_item_status_received", table_name="inbox_item")
    op.drop_table("inbox_item")
    drop_kind_columns("feedback")
