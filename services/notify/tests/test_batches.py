"""Big batches, straight against the store: intake and claims give what one-by-one would."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from feedloop.common.db import create_engine
from feedloop.common.feedback import Channel
from feedloop.notify.delivery import queue
from feedloop.notify.intake.apply import Incoming, apply_batch
from feedloop.notify.migrate import upgrade
from feedloop.notify.models import (
    cap_t,
    customer_t,
    delivery_t,
    issue_t,
    link_t,
    notification_t,
    outbox_t,
)
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.fixtures import migrated_engine

from .conftest import make_settings
from .factory import issue, linked

NOW = datetime(2026, 1, 6, tzinfo=UTC)
SETTINGS = make_settings(
    source_systems={"shop": {"callback_url": "http://127.0.0.1:1/h", "timeout_s": 1}},
    smtp_host="127.0.0.1",
)
COMPARED: list[tuple[Table, tuple[str, ...]]] = [
    (customer_t, ("id", "email", "locale")),
    (issue_t, ("id", "version", "status", "severity", "resolutions", "resolution_message")),
    (link_t, ("feedback_id", "issue_id", "customer_id", "channel", "closed_at", "close_outcome")),
    (delivery_t, ("id", "customer_id", "issue_id", "kind", "round", "channel", "status")),
    (delivery_t, ("id", "outcome", "message", "source_system")),
    (notification_t, ("feedback_id", "kind", "issue_id", "customer_id", "delivery_id")),
    (notification_t, ("feedback_id", "kind", "outcome")),
    (outbox_t, ("event_id", "topic", "key")),
]


@pytest.fixture
async def reference(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite store that takes its events one per batch."""
    store = create_engine(f"sqlite+aiosqlite:///{tmp_path}/reference.db")
    await upgrade(store)
    yield store
    await store.dispose()


store = migrated_engine(upgrade, name="store")  # takes all events in one batch


def story() -> list[Any]:
    """526 events on five issues: acknowledgements, resolutions mid-batch, merges, repeats."""
    events: list[Any] = []
    for k in range(400):
        resolved_by_now = k > 200 and k % 5 in (1, 2)
        events.append(
            linked(
                f"f{k}",
                f"i{k % 5}",
                f"c{k % 150}",
                email=f"c{k % 150}@example.com" if k >= 150 or k % 3 == 0 else None,
                source="shop" if k % 4 else "crm",
                channel=Channel.EMAIL if k % 7 == 0 else Channel.REVIEW,
                locale=None if k % 11 == 0 else "en-GB",
                status="resolved" if resolved_by_now else "new",
                severity="high" if k % 5 == 4 else "medium",
                nps=0 if k % 4 == 0 else None,
            )
        )
        if k == 200:
            events += [issue("i1", 1, "resolved", message="Fixed."), issue("i2", 1, "resolved")]
    # A run on one issue: owed together, yet each as its customer's contact data was then.
    events += [
        linked(
            f"d{k}",
            "i4",
            f"d{k % 10}",
            source="crm",
            email=f"d{k}@x.org" if k >= 10 else None,
            nps=0,
        )
        for k in range(30)
    ]
    # Regrouped: some wait on i3 now (those told about i1 or i2 already stay where they are).
    events += [linked(f"f{k}", "i3", f"c{k % 150}") for k in range(40, 80)]
    events += [issue("i0", 1, "in_progress"), issue("i2", 1, "resolved"), issue("i4", 0, "new")]
    events += events[:50]  # repeats
    events.append(issue("i3", 1, "resolved", message="Fixed too."))
    return events


async def rows(engine: AsyncEngine) -> list[list[tuple[Any, ...]]]:
    """The compared columns of every compared table, sorted."""
    out = []
    async with engine.connect() as conn:
        for table, columns in COMPARED:
            result = await conn.execute(select(*(table.c[c] for c in columns)))
            out.append(sorted((tuple(r) for r in result), key=repr))
    return out


@pytest.mark.slow  # 526 events applied twice: not in make test-fast
async def test_a_batch_of_526_events_leaves_the_rows_that_one_event_per_batch_leaves(
    reference: AsyncEngine, store: AsyncEngine
) -> None:
    batch = [Incoming(e.event_id, e.correlation_id, e.payload) for e in story()]
    for item in batch:
        async with reference.begin() as conn:
            await apply_batch(conn, [item], settings=SETTINGS, now=NOW)
    async with store.begin() as conn:
        result = await apply_batch(conn, batch, settings=SETTINGS, now=NOW)
    assert (result.applied, result.duplicates, result.stale) == (466, 59, 1)
    expected = await rows(reference)
    got = await rows(store)
    for (table, _), want, have in zip(COMPARED, expected, got, strict=True):
        assert have == want, table.name
    kinds = {(d[3], d[6]) for d in got[3]}
    assert kinds >= {("resolution", "pending"), ("acknowledgement", "pending")}
    assert ("acknowledgement", "done") in kinds, "some acknowledgements were superseded"


async def test_one_claim_gives_a_customer_no_more_messages_than_the_daily_cap(
    store: AsyncEngine,
) -> None:
    events = [linked(f"f{k}", f"i{k}", "busy") for k in range(5)]
    events += [linked("g", "i0", "calm"), *(issue(f"i{k}", 1, "resolved") for k in range(5))]
    batch = [Incoming(e.event_id, e.correlation_id, e.payload) for e in events]
    async with store.begin() as conn:
        await apply_batch(conn, batch, settings=SETTINGS, now=NOW)
    capped = make_settings(source_systems=SETTINGS.source_systems, daily_cap=3)
    claimed = await queue.claim(store, limit=100, settings=capped, now=NOW)
    assert sorted(item.customer_id for item in claimed.outgoing) == ["busy"] * 3 + ["calm"]
    assert claimed.suppressed == {"capped": 2}
    async with store.connect() as conn:
        used = dict((await conn.execute(select(cap_t.c.customer_id, cap_t.c.sent))).all())
        capped_rows = await conn.scalar(
            select(func.count()).where(
                delivery_t.c.outcome == "capped", delivery_t.c.cap_day.is_(None)
            )
        )
    assert used == {"busy": 3, "calm": 1}
    assert capped_rows == 2


async def test_claimed_deliveries_given_back_unattempted_are_due_again_as_they_were(
    store: AsyncEngine,
) -> None:
    events = [linked(f"f{k}", "i1", f"c{k}") for k in range(3)] + [issue("i1", 1, "resolved")]
    batch = [Incoming(e.event_id, e.correlation_id, e.payload) for e in events]
    async with store.begin() as conn:
        await apply_batch(conn, batch, settings=SETTINGS, now=NOW)
    claimed = await queue.claim(store, limit=10, settings=SETTINGS, now=NOW)
    assert len(claimed.outgoing) == 3
    await queue.release(store, claimed.outgoing[:2], now=NOW)
    again = await queue.claim(store, limit=10, settings=SETTINGS, now=NOW)
    assert sorted(i.delivery_id for i in again.outgoing) == sorted(
        i.delivery_id for i in claimed.outgoing[:2]
    )
    assert {i.attempts for i in again.outgoing} == {1}, "a given-back claim is no attempt"
