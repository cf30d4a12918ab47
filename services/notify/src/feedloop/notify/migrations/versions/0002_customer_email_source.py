"""customer.email_source: the source system whose e-mail address notify keeps

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_source", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("email_source")
