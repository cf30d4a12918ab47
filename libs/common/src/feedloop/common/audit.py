"""The audit log: who (API client) did what administrative action, when, to what.

Each service keeps its entries in its own `audit_entry` table, written in the same
transaction as the action, and publishes each as an `audit.recorded` event on the `audit`
topic through its outbox (same transaction again), so a security team can collect every
service's log in one place. `GET /v1/audit` (scope `audit:read`) lists a service's entries
with filters. Entries name customers by id only (never contact data or text), so an erasure
leaves them in place: they are the record that the erasure happened.

Needs the `db` extra.
"""

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.db import EngineDep, UtcDateTime
from feedloop.common.events import AuditRecorded, deterministic_id, utcnow
from feedloop.common.logs import correlation_id_var
from feedloop.common.outbox import Outbox
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.common.settings import ServiceSettings
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import JSON, Integer, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

SCOPE_AUDIT: Final = "audit:read"
MAX_DETAIL_CHARS: Final = 2000


class AuditColumns:
    """Declarative mixin: the columns of a service's `audit_entry` table."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200), doc="The API client that acted.")
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntryRead(BaseModel):
    """One entry of a service's audit log."""

    entry_id: str
    service: str
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]


async def record(
    conn: AsyncConnection,
    *,
    table: Table,
    outbox: Outbox,
    prefix: str,
    actor: str,
    action: str,
    target: tuple[str, str],
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> AuditRecorded:
    """Writes an audit entry and its `audit.recorded` event, inside the caller's transaction."""
    target_type, target_id = target
    detail = _bounded(detail or {})
    entry_id = deterministic_id(
        "audit", outbox.service, actor, action, target_type, target_id, at.isoformat()
    )
    fields: dict[str, Any] = {
        "entry_id": entry_id,
        "at": at,
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "detail": detail,
    }
    entry = AuditRecorded(service=outbox.service, **fields)
    await conn.execute(insert(table).values(**fields))
    row = outbox.row(
        entry,
        event_id=entry_id,
        key=f"{target_type}:{target_id}",
        correlation_id=correlation_id_var.get() or entry_id,
        prefix=prefix,
        now=at,
    )
    await outbox.write(conn, [row])
    return entry


class AuditLog:
    """A service's audit log: `record` bound to its table and outbox, stamped now."""

    def __init__(self, *, table: Table, outbox: Outbox) -> None:
        self.table = table
        self.outbox = outbox

    async def __call__(
        self,
        conn: AsyncConnection,
        *,
        settings: ServiceSettings,
        actor: str,
        action: str,
        target: tuple[str, str],
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Records an administrative action inside the caller's transaction (row + audit event)."""
        await record(
            conn,
            table=self.table,
            outbox=self.outbox,
            prefix=settings.kafka_topic_prefix,
            actor=actor,
            action=action,
            target=target,
            at=utcnow(),
            detail=detail,
        )


def _bounded(detail: dict[str, Any]) -> dict[str, Any]:
    # Details are short facts (a new status, counts); never a free text that could carry PII.
    return {k[:60]: (v[:MAX_DETAIL_CHARS] if isinstance(v, str) else v) for k, v in detail.items()}


async def entries(
    conn: AsyncConnection,
    *,
    table: Table,
    service: str,
    filters: "AuditFilters",
) -> list[AuditEntryRead]:
    """Returns a service's audit entries, newest first, filtered."""
    query = select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(filters.limit)
    for column, value in (
        (table.c.actor, filters.actor),
        (table.c.action, filters.action),
        (table.c.target_type, filters.target_type),
        (table.c.target_id, filters.target_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(table.c.at >= filters.since)
    if filters.until is not None:
        query = query.where(table.c.at < filters.until)
    rows = (await conn.execute(query)).mappings()
    return [
        AuditEntryRead(service=service, **{k: v for k, v in r.items() if k != "id"}) for r in rows
    ]


class AuditFilters(BaseModel):
    """Filters of GET /v1/audit."""

    actor: str | None = Field(default=None, max_length=200)
    action: str | None = Field(default=None, max_length=60)
    target_type: str | None = Field(default=None, max_length=40)
    target_id: str | None = Field(default=None, max_length=300)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


AuditorDep = Annotated[ApiClient, Depends(require_scope(SCOPE_AUDIT))]


def audit_router(*, table: Table, service: str) -> APIRouter:
    """Returns the router of `GET /v1/audit` on a service's audit table."""
    router = APIRouter(prefix="/v1", tags=["audit"], responses=problem_responses(*AUTHENTICATED))

    @router.get("/audit", response_model=list[AuditEntryRead], summary="The audit log, filtered")
    async def list_audit(
        engine: EngineDep,
        _client: AuditorDep,
        filters: Annotated[AuditFilters, Query()],
    ) -> list[AuditEntryRead]:
        async with engine.connect() as conn:
            return await entries(conn, table=table, service=service, filters=filters)

    return router
