"""feedback.enriched_at: when the stored enrichment was made, so only a newer one replaces it

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10
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
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enriched_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("enriched_at")
