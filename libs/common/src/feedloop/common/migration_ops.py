"""Building blocks of the services' Alembic revisions (needs the `db` extra).

A revision's `upgrade()` calls one function per table; the blocks every store shares live
here. They are frozen like the revisions that call them: a later change to a shared table
is a new revision, never an edit of these functions, or existing databases would diverge
from new ones.
"""

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from alembic import op


def create_indexes(table: str, indexes: Mapping[str, Sequence[str]]) -> None:
    """Creates non-unique indexes {name: columns} on `table` (batch mode: SQLite too)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, columns in indexes.items():
            batch_op.create_index(name, list(columns), unique=False)


def drop_indexes(table: str, names: Sequence[str]) -> None:
    """Drops indexes of `table`, in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_index(name)


def drop_tables(*names: str) -> None:
    """Drops tables, in the order given."""
    for name in names:
        op.drop_table(name)


def create_outbox_table() -> None:
    """The `outbox` table as the initial revisions of notify and prioritize created it.

    Its mapping is feedloop.common.outbox.OutboxColumns; columns added later come in a
    revision of their own.
    """
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def create_processed_event_table() -> None:
    """The `processed_event` table of event ids already applied (consumer idempotency)."""
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def add_outbox_attempt_columns() -> None:
    """Adds the per-row attempt mark to `outbox` (OutboxColumns.attempted_at, attempt_owner)."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempt_owner", sa.String(length=200), nullable=True))


def drop_outbox_attempt_columns() -> None:
    """Reverts add_outbox_attempt_columns."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attempt_owner")
        batch_op.drop_column("attempted_at")


def create_audit_entry_table() -> None:
    """The `audit_entry` table (feedloop.common.audit.AuditColumns) with its two indexes."""
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
    )
    create_indexes(
        "audit_entry", {"ix_audit_entry_at": ["at"], "ix_audit_entry_target": ["target_id"]}
    )


def add_kind_columns(*tables: str) -> None:
    """Adds the nullable `kind` column (String(10): complaint, praise, ...) to each table."""
    for table in tables:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))


def drop_kind_columns(*tables: str) -> None:
    """Reverts add_kind_columns, table by table in the order given."""
    for table in tables:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("kind")
