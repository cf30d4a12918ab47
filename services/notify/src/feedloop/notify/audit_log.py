"""Notify's audit log: the shared idiom (feedloop.common.audit) on its table and outbox."""

from typing import Any

from feedloop.common.audit import record
from feedloop.common.events import utcnow
from feedloop.notify.models import audit_t
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncConnection


async def audit_action(
    conn: AsyncConnection,
    *,
    settings: NotifySettings,
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
