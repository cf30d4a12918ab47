"""Retention: the pruning jobs remove what outlived its purpose, and count it (SQLite)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feedloop.common.db import create_engine
from feedloop.common.retention import RETENTION_PRUNED, prune_once
from feedloop.notify import retention as notify_retention
from feedloop.notify.migrate import upgrade as upgrade_notify
from feedloop.notify.models import cap_t, processed_t
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize import retention as prioritize_retention
from feedloop.prioritize.migrate import upgrade as upgrade_prioritize
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import func, insert, select

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def pruned(service: str, table: str) -> float:
    return RETENTION_PRUNED.labels(service, table)._value.get()


async def test_notify_prunes_old_processed_ids_and_past_caps_and_counts_them(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}")
    await upgrade_notify(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(processed_t),
            [
                {"event_id": "old", "processed_at": NOW - timedelta(days=31)},
                {"event_id": "new", "processed_at": NOW - timedelta(days=1)},
            ],
        )
        await conn.execute(
            insert(cap_t),
            [
                {"customer_id": "c1", "day": "2026-12-01", "sent": 2},
                {"customer_id": "c1", "day": "2026-12-07", "sent": 1},
            ],
        )
    settings = NotifySettings(environment="test", database_url="sqlite://")
    before = pruned("notify", "processed_event")

    async def prune() -> dict[str, int]:
        return await notify_retention.prune(engine=engine, settings=settings, now=NOW)

    assert await prune_once("notify", prune) == {"processed_event": 1, "cap_counter": 1}
    assert pruned("notify", "processed_event") == before + 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(processed_t.c.event_id))).scalars().all() == ["new"]
        assert (await conn.execute(select(cap_t.c.day))).scalars().all() == ["2026-12-07"]
    assert await prune() == {"processed_event": 0, "cap_counter": 0}
    await engine.dispose()


def feedback_row(feedback_id: str, received_at: datetime) -> dict[str, Any]:
    return {
        "id": feedback_id,
        "event_id": feedback_id,
        "customer_id": "c1",
        "segment": "women",
        "channel": "review",
        "theme": "delivery",
        "sentiment_label": "negative",
        "sentiment_score": -0.8,
        "is_complaint": True,
        "nps": 3,
        "text": "My parcel was late, write to ann@example.org",
        "enrichment": {"themes": [{"theme": "delivery", "evidence": "My parcel was late"}]},
        "ref": {"external_id": "r-9", "customer": {"id": "c1", "email": "ann@example.org"}},
        "occurred_at": received_at,
        "received_at": received_at,
        "stored_at": received_at,
    }


async def test_prioritize_strips_old_feedback_text_and_contact_and_keeps_the_numbers(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'prioritize.db'}")
    await upgrade_prioritize(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(feedback_t),
            [
                feedback_row("old", NOW - timedelta(days=400)),
                feedback_row("new", NOW - timedelta(days=3)),
            ],
        )
    settings = PrioritizeSettings(environment="test", database_url="sqlite://")
    removed = await prioritize_retention.prune(engine=engine, settings=settings, now=NOW)
    assert removed == {"feedback": 1}
    async with engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(select(feedback_t))}
        assert await conn.scalar(select(func.count()).select_from(feedback_t)) == 2
    old, new = rows["old"], rows["new"]
    assert old.text == "" and "ann@example.org" not in str(old.ref)
    assert old.enrichment["themes"][0]["evidence"] is None
    assert (old.nps, old.sentiment_score, old.customer_id) == (3, -0.8, "c1")
    assert new.text.startswith("My parcel")
    off = PrioritizeSettings(
        environment="test", database_url="sqlite://", retention_feedback_days=None
    )
    assert await prioritize_retention.prune(engine=engine, settings=off, now=NOW) == {"feedback": 0}
    await engine.dispose()
