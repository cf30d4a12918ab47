"""Typed rows of notify's tables (models.py), read with a column list the type checker knows."""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from feedloop.notify.models import customer_t
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection


class _Row:
    """Reading a typed row from a selected one, and writing it back as insert values."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]

    @classmethod
    def of(cls, row: Any) -> Self:
        """Returns the typed copy of a row selected from the table (all its columns)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def values(self) -> dict[str, Any]:
        """Returns the row as insert values."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class DeliveryRow(_Row):
    """One row of `delivery`: one message to one customer about one issue, of one kind."""

    id: str
    customer_id: str
    issue_id: str
    kind: str
    round: int
    channel: str
    source_system: str
    message: str | None
    status: str
    outcome: str | None
    attempts: int
    next_attempt_at: datetime
    lease_token: str | None
    cap_day: str | None
    last_error: str | None
    resends: int
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CustomerRow(_Row):
    """One row of `customer`: contact data (the only PII notify keeps) or its tombstone."""

    id: str
    email: str | None
    email_source: str | None
    locale: str | None
    erased_at: datetime | None
    updated_at: datetime

    @property
    def erased(self) -> bool:
        """True once the customer was erased."""
        return self.erased_at is not None


@dataclass(frozen=True, slots=True)
class NotificationRow(_Row):
    """One row of `notification`: what one feedback item is owed (one per kind)."""

    id: str
    feedback_id: str
    kind: str
    issue_id: str
    customer_id: str
    delivery_id: str
    outcome: str | None
    created_at: datetime
    closed_at: datetime | None


async def load_deliveries(conn: AsyncConnection, query: Select[Any]) -> list[DeliveryRow]:
    """Runs a `select(delivery_t)...` query; returns its typed rows."""
    return [DeliveryRow.of(row) for row in await conn.execute(query)]


async def load_customers(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, CustomerRow]:
    """Returns the stored customers among `ids`, by id."""
    rows = await conn.execute(select(customer_t).where(customer_t.c.id.in_(list(ids))))
    return {row.id: CustomerRow.of(row) for row in rows}
