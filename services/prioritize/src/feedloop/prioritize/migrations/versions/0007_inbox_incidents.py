"""inbox_item.kind, issue_id and reason: one-off complaints (incidents) in the answer queue

Revision ID: 0007
Revises: 0004 (the revision that creates inbox_item)
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    with op.batch_alter_table("inbox_item") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="question")
        )
        batch.add_column(sa.Column("issue_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("inbox_item") as batch:
        batch.drop_column("reason")
        batch.drop_column("issue_id")
        batch.drop_column("kind")
