"""Seeding a service's store for a test: migrated, then rows inserted, in one helper."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from feedloop.common.db import create_engine
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


async def seed_store(
    url: str,
    upgrade: Callable[[AsyncEngine], Awaitable[None]],
    rows: Sequence[tuple[Table, list[dict[str, Any]]]] = (),
    then: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Migrates the store at `url`, inserts each table's rows, then runs `then` (if given),
    all in one transaction."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            for table, values in rows:
                if values:
                    await conn.execute(insert(table), values)
            if then is not None:
                await then(conn)
    finally:
        await engine.dispose()
