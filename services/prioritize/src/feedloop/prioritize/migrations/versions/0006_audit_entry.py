"""audit_entry: the audit log of administrative actions (feedloop.common.audit)

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from feedloop.common.migration_ops import create_audit_entry_table, drop_tables

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision."""
    create_audit_entry_table()


def downgrade() -> None:
    """Reverts this revision."""
    drop_tables("audit_entry")
