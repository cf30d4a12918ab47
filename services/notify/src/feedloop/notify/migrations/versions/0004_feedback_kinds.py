"""issue_state.kind and feedback_link.kind: praise, questions and remarks close their loop too

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from feedloop.common.migration_ops import add_kind_columns, drop_kind_columns

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    add_kind_columns("issue_state", "feedback_link")


def downgrade() -> None:
    """Reverts this revision."""
    drop_kind_columns("feedback_link", "issue_state")
