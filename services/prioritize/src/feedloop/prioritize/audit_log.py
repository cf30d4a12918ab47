"""Prioritize's audit log: the shared idiom (feedloop.common.audit) on its table and outbox."""

from typing import Any

from feedloop.common.audit import record
from feedloop.common.events import utcnow
from feedloop.prioritize.models import audit_t
from feedloop.prioritize.outbox import OUTBOX
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy.ext.asyncio import AsyncConnection


async def audit_action(
    conn: AsyncConnection,
    *,
    settings: PrioritizeSettings,
    actor: str,
    action: str,
    target: tuple[str, str],
    detail: dict[str, Any] | None = None,
) -> None:
    """Records an administrative action inside the caller's transaction (row + audit event)."""
    await record(
        conn,
        table=audit_t,
        outbox=OUTBOX,
        prefix=settings.kafka_topic_prefix,
        actor=actor,
        action=action,
        target=target,
        at=utcnow(),
        detail=detail,
    )


def issue_action(status: str | None) -> str:
    """The audit action of an issue patch: resolving, a status change, or another edit."""
    if status == "resolved":
        return "issue.resolved"
    return "issue.status_changed" if status is not None else "issue.edited"
