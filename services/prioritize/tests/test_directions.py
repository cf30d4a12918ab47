"""Complaints naming opposite directions of a theme ("runs small" vs "runs large") stay apart."""

import json
from datetime import UTC, datetime
from pathlib import Path

from feedloop.common.db import create_engine
from feedloop.prioritize.issues.assign import Incoming, store_batch
from feedloop.prioritize.migrate import upgrade
from sqlalchemy import text

from .conftest import make_settings
from .factory import enriched


def _complaint(n: int, direction: str | None) -> Incoming:
    # One embedding cluster for all: only the direction tells them apart.
    event = enriched(f"d{n}", customer=f"c-{n}", cluster="size", direction=direction)
    return Incoming(event, "c", f"e{n}")


async def _issues(tmp_path: Path, batches: list[list[Incoming]]) -> dict[str, set[str | None]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/directions.db"
    engine = create_engine(url)
    await upgrade(engine)
    settings = make_settings(database_url=url)
    for batch in batches:
        async with engine.begin() as conn:
            await store_batch(conn=conn, batch=batch, settings=settings, now=datetime.now(UTC))
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT issue_id, enrichment FROM feedback"))).all()
        merged = await conn.scalar(text("SELECT count(*) FROM issue WHERE merged_into IS NOT NULL"))
    await engine.dispose()
    assert merged == 0
    groups: dict[str, set[str | None]] = {}
    for issue_id, enrichment in rows:
        payload = enrichment if isinstance(enrichment, dict) else json.loads(enrichment)
        groups.setdefault(issue_id, set()).add(payload["themes"][0]["direction"])
    return groups


async def test_runs_small_and_runs_large_open_separate_issues_in_one_batch(tmp_path: Path) -> None:
    batch = [_complaint(n, "small" if n % 2 else "large") for n in range(10)]
    groups = await _issues(tmp_path, [batch])
    assert sorted(groups.values(), key=sorted) == [{"large"}, {"small"}]


async def test_opposite_issues_never_merge_across_batches(tmp_path: Path) -> None:
    batches = [
        [_complaint(n, "small") for n in range(4)],
        [_complaint(n, "large") for n in range(4, 8)],
        [_complaint(n, "small" if n % 2 else "large") for n in range(8, 14)],
    ]
    groups = await _issues(tmp_path, batches)
    assert sorted(groups.values(), key=sorted) == [{"large"}, {"small"}]


async def test_a_complaint_naming_no_direction_joins_an_issue_of_either(tmp_path: Path) -> None:
    batches = [[_complaint(n, "small") for n in range(3)], [_complaint(9, None)]]
    groups = await _issues(tmp_path, batches)
    assert list(groups.values()) == [{"small", None}]
