"""feedback_day: the daily KPI rollup, its triggers on feedback, and its backfill; feedback_note"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from feedloop.prioritize.kpis import rollup

revision: str = "0005"
down_revision: str | None = "0003"
depends_on: str | Sequence[str] | None = "0004"  # praise is counted by feedback.kind


def upgrade() -> None:
    """Creates the table, fills it from the stored feedback and installs the triggers in one
    transaction; on PostgreSQL writers of feedback wait until it commits (SQLite has one
    writer), so no row is counted twice or missed between the backfill and the triggers."""
    key = [
        ("day", 10),
        ("theme", 200),
        ("segment", 200),
        ("tier", 20),
        ("channel", 20),
        ("language", 20),
        ("csat_method", 20),
        ("ces_scale", 60),
    ]
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("LOCK TABLE feedback IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "feedback_day",
        *(sa.Column(name, sa.String(length=size), nullable=False) for name, size in key),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in rollup.MEASURES),
        sa.PrimaryKeyConstraint(*rollup.KEYS),
    )
    op.execute(rollup.backfill(dialect))
    for statement in rollup.create_triggers(dialect):
        op.execute(statement)
    op.create_table(
        "feedback_note",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_note_feedback", "feedback_note", ["feedback_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_note_feedback", table_name="feedback_note")
    op.drop_table("feedback_note")
    for statement in rollup.drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("feedback_day")
