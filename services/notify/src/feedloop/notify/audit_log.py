"""Notify's audit log: the shared idiom (feedloop.common.audit) on its table and outbox."""

from feedloop.common.audit import AuditLog
from feedloop.notify.models import audit_t
from feedloop.notify.outbox import OUTBOX

audit_action = AuditLog(table=audit_t, outbox=OUTBOX)
