"""issue_state.kind and feedback_link.kind: praise, questions and remarks close their loop too"""

from feedloop.common.migration_ops import add_kind_columns, drop_kind_columns

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    add_kind_columns("issue_state", "feedback_link")


def downgrade() -> None:
    drop_kind_columns("feedback_link", "issue_state")
