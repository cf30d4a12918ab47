"""What customers are owed, straight from the store (SQLite, no network)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from feedloop.common.db import create_engine
from feedloop.notify.intake.apply import Incoming, apply_batch
from feedloop.notify.migrate import upgrade
from feedloop.notify.models import Base, delivery_t, notification_t
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import make_settings
from .factory import issue, linked

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
    shop = {"callback_url": "http://127.0.0.1:1/h", "timeout_s": 1}
    settings = make_settings(source_systems={"shop": shop})
    async with engine.begin() as conn:
        await apply_batch(conn, batch, settings=settings, now=NOW)


async def deliveries(engine: AsyncEngine) -> list[tuple[str, str, int, str | None]]:
    """(customer, kind, round, outcome) of every delivery."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                delivery_t.c.customer_id,
                delivery_t.c.kind,
                delivery_t.c.round,
                delivery_t.c.outcome,
            ).order_by(delivery_t.c.created_at, delivery_t.c.id)
        )
        return sorted(tuple(r) for r in rows)


async def test_an_unsent_acknowledgement_is_dropped_when_the_fix_arrives_first(
    engine: AsyncEngine,
) -> None:
    await apply(engine, linked("f1", "i1", "c1", nps=0), issue("i1", 1, "resolved"))
    assert await deliveries(engine) == [
        ("c1", "acknowledgement", 1, "superseded"),
        ("c1", "resolution", 1, None),
    ]


async def test_a_reopened_and_again_resolved_issue_tells_only_its_new_reporters(
    engine: AsyncEngine,
) -> None:
    await apply(engine, linked("f1", "i1", "c1"), issue("i1", 1, "resolved"))
    await apply(
        engine,
        issue("i1", 2, "in_progress"),
        linked("f2", "i1", "c2", status="in_progress"),
        linked("f3", "i1", "c1", status="in_progress"),
        issue("i1", 3, "resolved"),
    )
    assert await deliveries(engine) == [
        ("c1", "resolution", 1, None),
        ("c1", "resolution", 2, None),
        ("c2", "resolution", 2, None),
    ]


async def test_feedback_regrouped_into_another_issue_waits_on_that_one(
    engine: AsyncEngine,
) -> None:
    await apply(engine, linked("f1", "i1", "c1"))
    await apply(engine, linked("f1", "i2", "c1"), issue("i1", 1, "resolved"))
    assert await deliveries(engine) == []
    await apply(engine, issue("i2", 1, "resolved"))
    async with engine.connect() as conn:
        owed = (
            await conn.execute(select(notification_t.c.feedback_id, notification_t.c.issue_id))
        ).all()
    assert [tuple(r) for r in owed] == [("f1", "i2")]


async def test_a_merge_wins_over_the_older_link_of_the_merged_issue_from_another_partition(
    engine: AsyncEngine,
) -> None:
    # The target's re-emission (its partition) is applied before the source's original link
    # (another partition); the source's merged_into, ordered after that link, settles it.
    await apply(
        engine,
        linked("f1", "target", "c1"),
        linked("f1", "source", "c1"),
        issue("source", 2, "new", merged_into="target"),
    )
    await apply(engine, issue("target", 3, "resolved"))
    async with engine.connect() as conn:
        owed = (
            await conn.execute(select(notification_t.c.feedback_id, notification_t.c.issue_id))
        ).all()
    assert [tuple(r) for r in owed] == [("f1", "target")]


async def test_links_moved_by_a_merge_into_a_resolved_issue_are_told_its_resolution(
    engine: AsyncEngine,
) -> None:
    await apply(engine, linked("f1", "source", "c1"), issue("target", 1, "resolved"))
    await apply(engine, issue("source", 2, "new", merged_into="target"))
    assert await deliveries(engine) == [("c1", "resolution", 1, None)]


async def test_the_same_event_applied_twice_owes_nothing_twice(engine: AsyncEngine) -> None:
    events = [linked("f1", "i1", "c1"), linked("f2", "i1", "c1"), issue("i1", 1, "resolved")]
    await apply(engine, *events, *events)
    await apply(engine, *events)
    async with engine.connect() as conn:
        owed = (await conn.execute(select(notification_t.c.feedback_id))).scalars().all()
    assert sorted(owed) == ["f1", "f2"]
    assert await deliveries(engine) == [("c1", "resolution", 1, None)]


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrations_build_exactly_the_models_and_run_twice(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
