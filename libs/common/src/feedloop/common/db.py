"""Async database engines (SQLite by default, PostgreSQL for several replicas) and helpers.

Needs the `db` extra of feedloop-common (SQLAlchemy); only the stateful stages install it.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Request
from feedloop.common.settings import StoreSettings
from feedloop.common.shell import Step
from sqlalchemy import DateTime, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and returns them aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Converts to UTC (naive on SQLite, which has no zones)."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Returns an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    statement_timeout_ms: int = 30_000,
    lock_timeout_ms: int = 10_000,
) -> AsyncEngine:
    """Returns an engine; SQLite gets WAL, a busy timeout and its directory created.

    PostgreSQL sessions get a statement and a lock timeout, so one slow query or a lock held
    by a stuck transaction fails a batch (which is retried) instead of hanging a consumer.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # We emit BEGIN ourselves (below), so the driver must not.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads, then writes,
            # fails at once with SQLITE_BUSY when another writer committed in between.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    timeouts = {
        "statement_timeout": str(statement_timeout_ms),
        "lock_timeout": str(lock_timeout_ms),
    }
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": timeouts},
    )


def is_postgres(conn: AsyncConnection | AsyncEngine) -> bool:
    """True on PostgreSQL, where row and advisory locks matter."""
    return conn.dialect.name == "postgresql"


async def lock_keys(conn: AsyncConnection, keys: list[str]) -> None:
    """Takes a transaction-scoped advisory lock per key (sorted: no deadlocks); PostgreSQL only.

    SQLite has a single writer, so its write transaction already serialises the batches.
    """
    if not is_postgres(conn):
        return
    for key in sorted(set(keys)):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


async def db_reachable(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


async def insert_ignoring_conflicts(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> None:
    """Inserts rows, silently skipping those whose primary or unique key already exists."""
    if rows:
        dialect_insert = pg_insert if is_postgres(conn) else sqlite_insert
        await conn.execute(dialect_insert(table).on_conflict_do_nothing(), rows)


def create_store_engine(settings: StoreSettings) -> AsyncEngine:
    """Returns the engine of a service's store, sized and timed out by its settings."""
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
    )


def store_step(
    engine: AsyncEngine,
    *,
    upgrade: Callable[[AsyncEngine], Awaitable[None]] | None = None,
    migrate: bool = False,
) -> Step:
    """Lifespan step (feedloop.common.shell): upgrades the schema when `migrate`, disposes the
    engine last on shutdown."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        del app
        stack.push_async_callback(engine.dispose)
        if migrate and upgrade is not None:
            await upgrade(engine)

    return step


def db_check(engine: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    """Readiness check: the database answers a trivial query."""

    async def check() -> bool:
        return await db_reachable(engine)

    return check


def engine_of(request: Request) -> AsyncEngine:
    """Returns the app's database engine (`app.state.engine`)."""
    engine: AsyncEngine = request.app.state.engine
    return engine


EngineDep = Annotated[AsyncEngine, Depends(engine_of)]
"""The app's engine, for routes that read or manage their own transactions."""


async def transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    """Yields a connection in a transaction that commits when the route returns, then wakes
    the outbox relay (`app.state.relay`, if any); an exception rolls it back.

    Used with scope="function" (TransactionDep): the commit happens before the response is
    sent, so a 2xx means the change is durable and a failed commit answers 5xx.
    """
    engine: AsyncEngine = request.app.state.engine
    async with engine.begin() as conn:
        yield conn
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:
        relay.wake()


TransactionDep = Annotated[AsyncConnection, Depends(transaction, scope="function")]
"""A connection in the route's transaction: committed before the response, then the relay woken."""


def table_of(model: type[DeclarativeBase]) -> Table:
    """Returns the Core table of a mapped class (typed for insert/update/delete and queries)."""
    return cast(Table, model.__table__)
