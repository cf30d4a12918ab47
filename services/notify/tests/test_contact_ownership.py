"""A customer's e-mail belongs to the source system that gave it (SQLite, no network)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from feedloop.common.db import create_engine
from feedloop.notify.intake.apply import Incoming, apply_batch
from feedloop.notify.migrate import upgrade
from feedloop.notify.models import customer_t
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import make_settings
from .factory import linked

NOW = datetime(2026, 1, 6, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite store."""
    store = create_engine(f"sqlite+aiosqlite:///{tmp_path}/n.db")
    await upgrade(store)
    yield store
    await store.dispose()


async def apply(engine: AsyncEngine, *envelopes: Any) -> None:
    """Applies events as the consumer would, one batch."""
    batch = [Incoming(e.event_id, e.correlation_id, e.payload) for e in envelopes]
    async with engine.begin() as conn:
        await apply_batch(conn, batch, settings=make_settings(), now=NOW)


async def email_of(engine: AsyncEngine, customer_id: str) -> tuple[str | None, str | None]:
    """(email, the system that gave it) as stored."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(customer_t.c.email, customer_t.c.email_source).where(
                    customer_t.c.id == customer_id
                )
            )
        ).one()
    return row.email, row.email_source


async def test_another_system_cannot_overwrite_a_customers_email(engine: AsyncEngine) -> None:
    await apply(engine, linked("f1", "i1", "c1", email="ana@example.com", source="shop"))
    await apply(engine, linked("f2", "i1", "c1", email="thief@evil.example", source="crm"))
    assert await email_of(engine, "c1") == ("ana@example.com", "shop")


async def test_the_owning_system_may_change_the_email(engine: AsyncEngine) -> None:
    await apply(engine, linked("f1", "i1", "c1", email="ana@example.com", source="shop"))
    await apply(engine, linked("f2", "i1", "c1", email="ana@new.example", source="shop"))
    assert await email_of(engine, "c1") == ("ana@new.example", "shop")


async def test_within_one_batch_the_first_system_to_give_an_email_owns_it(
    engine: AsyncEngine,
) -> None:
    await apply(
        engine,
        linked("f1", "i1", "c1", email=None, source="crm"),
        linked("f2", "i1", "c1", email="ana@example.com", source="shop"),
        linked("f3", "i1", "c1", email="thief@evil.example", source="crm"),
    )
    assert await email_of(engine, "c1") == ("ana@example.com", "shop")
