"""issue_state.kind and feedback_link.kind: praise, questions and remarks close their loop too

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    with op.batch_alter_table("issue_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))
    with op.batch_alter_table("feedback_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("feedback_link", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("issue_state", schema=None) as batch_op:
        batch_op.drop_column("kind")
