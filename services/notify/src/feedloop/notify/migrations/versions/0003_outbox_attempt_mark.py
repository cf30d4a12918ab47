"""outbox.attempted_at and attempt_owner: rows a relay began to send, committed before it sends"""

from feedloop.common.migration_ops import add_outbox_attempt_columns, drop_outbox_attempt_columns

revision: str = "0003"
down_revision: str | None = "0002"

upgrade = add_outbox_attempt_columns
downgrade = drop_outbox_attempt_columns
