"""kpi_alert: the keys of the KPI alerts emitted (spikes, weekly digests), each emitted once"""

import sqlalchemy as sa
from alembic import op
from feedloop.common.migration_ops import drop_tables

revision: str = "0008"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_table(
        "kpi_alert",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    drop_tables("kpi_alert")
