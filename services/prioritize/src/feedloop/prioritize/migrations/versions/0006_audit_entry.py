"""audit_entry: the audit log of administrative actions (feedloop.common.audit)"""

from feedloop.common.migration_ops import create_audit_entry_table, drop_tables

revision: str = "0006"
down_revision: str | None = "0003"


def upgrade() -> None:
    create_audit_entry_table()


def downgrade() -> None:
    drop_tables("audit_entry")
