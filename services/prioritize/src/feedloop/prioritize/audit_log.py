"""Prioritize's audit log: the shared idiom (feedloop.common.audit) on its table and outbox."""

from feedloop.common.audit import AuditLog
from feedloop.prioritize.models import audit_t
from feedloop.prioritize.outbox import OUTBOX

audit_action = AuditLog(table=audit_t, outbox=OUTBOX)


def issue_action(status: str | None) -> str:
    """The audit action of an issue patch: resolving, a status change, or another edit."""
    if status == "resolved":
        return "issue.resolved"
    return "issue.status_changed" if status is not None else "issue.edited"
