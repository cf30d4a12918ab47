"""outbox.attempted_at and attempt_owner: rows a relay began to send, committed before it sends

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from feedloop.common.migration_ops import add_outbox_attempt_columns, drop_outbox_attempt_columns

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    add_outbox_attempt_columns()


def downgrade() -> None:
    """Reverts this revision."""
    drop_outbox_attempt_columns()
