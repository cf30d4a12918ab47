"""The daily KPI rollup equals the row-level computation, on SQLite and PostgreSQL.

Property tests with random data: random feedback rows are inserted, updated (every summed
column, and the day) and deleted; after each round the `feedback_day` table must equal a fresh
GROUP BY over the rows, and the KPI answers over random periods (edges at any second) must equal
what the row-by-row computation (the service's code before the rollup) gives. The migration's
backfill counts rows stored before it.
"""

import random
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from alembic import command
from feedloop.common.db import create_engine
from feedloop.common.migrate import alembic_config
from feedloop.prioritize.kpis import rollup, service, stats
from feedloop.prioritize.migrate import MIGRATIONS, upgrade
from feedloop.prioritize.models import feedback_day_t, feedback_t
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.support.fixtures import migrated_engine

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 5
THEMES = ("sizing", "delivery", None)
SEGMENTS = ("b2c", "enterprise", None)
TIERS = ("standard", "gold", None)
CHANNELS = ("survey", "review", "chat")
LANGUAGES = ("en", "de", None)


def _csat(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.4:
        return None
    top = rng.choice((5, 7))
    score = rng.randint(1, top)
    return {
        "score": score,
        "scale_min": 1,
        "scale_max": top,
        "method": rng.choice(("top_box", "top_2_box", "mean")),
        "normalised": (score - 1) / (top - 1),
    }


def _ces(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.5:
        return None
    top = rng.choice((5, 7))
    score = rng.randint(1, top)
    direction = rng.choice(("higher_is_easier", "lower_is_easier"))
    ease = (score - 1) / (top - 1) if direction == "higher_is_easier" else (top - score) / (top - 1)
    return {"score": score, "scale_max": top, "direction": direction, "ease": ease}


def _analysis(rng: random.Random) -> dict[str, Any]:
    """The columns the rollup sums, at random (some at the thresholds: 0, 6, 9, 2/3)."""
    score = rng.choice((rng.uniform(-1, 1), 0.0, -0.5, 0.25))
    language = rng.choice(LANGUAGES)
    return {
        "occurred_at": START + timedelta(seconds=rng.randrange(DAYS * 86400)),
        "theme": rng.choice(THEMES),
        "segment": rng.choice(SEGMENTS),
        "tier": rng.choice(TIERS),
        "channel": rng.choice(CHANNELS),
        "sentiment_label": "positive" if score > 0.1 else "negative" if score < -0.1 else "neutral",
        "sentiment_score": score,
        "is_complaint": score < -0.2,
        "kind": rng.choice(("complaint", "praise", "question", "remark", None)),
        "nps": rng.choice((None, rng.randint(0, 10), 6, 9)),
        "csat": _csat(rng),
        "ces": _ces(rng),
        "enrichment": {"language": {"code": language, "confidence": 0.9}} if language else {},
    }


def _row(rng: random.Random, i: int) -> dict[str, Any]:
    analysis = _analysis(rng)
    return {
        "id": f"f-{i}",
        "event_id": f"e-{i}",
        "issue_id": None,
        "duplicate_of": None,
        "customer_id": f"c-{i % 7}",
        "arr": None,
        "rating": None,
        "text": "redacted",
        "ref": {},
        "embedding": None,
        "received_at": analysis["occurred_at"],
        "stored_at": analysis["occurred_at"],
        "enriched_at": None,
        "closed_at": None,
        "time_to_close_s": None,
        "close_outcome": None,
        **analysis,
    }


async def _rollup_table(conn: AsyncConnection) -> dict[tuple[str, ...], dict[str, int]]:
    rows = await conn.execute(select(feedback_day_t))
    return {
        tuple(r._mapping[k] for k in rollup.KEYS): {m: int(r._mapping[m]) for m in rollup.MEASURES}
        for r in rows
    }


async def _recomputed(conn: AsyncConnection) -> dict[tuple[str, ...], dict[str, int]]:
    select_part = rollup.backfill(conn.dialect.name).split(") SELECT ", 1)[1]
    rows = await conn.execute(text("SELECT " + select_part))
    width = len(rollup.KEYS)
    return {
        tuple(r[:width]): dict(zip(rollup.MEASURES, map(int, r[width:]), strict=True)) for r in rows
    }


# The row-by-row computation the service made before the rollup: the reference.


def _block(rows: Sequence[Any]) -> dict[str, Any]:
    return {
        "feedback": len(rows),
        "nps": stats.nps([r["nps"] for r in rows if r["nps"] is not None]),
        "csat": stats.csat(r["csat"] for r in rows if r["csat"]),
        "ces": stats.ces(r["ces"] for r in rows if r["ces"]),
    }


def _language(row: dict[str, Any]) -> str | None:
    return (row["enrichment"].get("language") or {}).get("code")


def expected_scores(
    rows: list[dict[str, Any]], since: datetime, until: datetime, filters: dict[str, list[str]]
) -> dict[str, Any]:
    def value(row: dict[str, Any], dimension: str) -> str:
        raw = _language(row) if dimension == "language" else row[dimension]
        return raw or "unknown"

    chosen = [
        r
        for r in rows
        if since <= r["occurred_at"] < until
        and all(value(r, d) in values for d, values in filters.items())
    ]
    by: dict[str, dict[str, Any]] = {}
    for dimension in ("segment", "channel", "theme", "tier", "language"):
        groups: dict[str, list[Any]] = defaultdict(list)
        for row in chosen:
            groups[value(row, dimension)].append(row)
        by[dimension] = {key: _block(items) for key, items in sorted(groups.items())}
    return {"overall": _block(chosen), "by": by}


def expected_impact(
    rows: list[dict[str, Any]], since: datetime, until: datetime, filters: dict[str, list[str]]
) -> dict[str, Any]:
    """NPS without each theme's complaints, answer by answer."""

    def value(row: dict[str, Any], dimension: str) -> str:
        raw = _language(row) if dimension == "language" else row[dimension]
        return raw or "unknown"

    answers = [
        r
        for r in rows
        if since <= r["occurred_at"] < until
        and r["nps"] is not None
        and all(value(r, d) in values for d, values in filters.items())
    ]

    def raw(scores: list[int]) -> float | None:
        if not scores:
            return None
        return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)

    overall = raw([r["nps"] for r in answers])
    themes: list[dict[str, Any]] = []
    for theme in {r["theme"] for r in answers if r["is_complaint"]}:
        others = [r["nps"] for r in answers if not (r["is_complaint"] and r["theme"] == theme)]
        mine = [r["nps"] for r in answers if r["is_complaint"] and r["theme"] == theme]
        without = raw(others)
        assert overall is not None
        themes.append(
            {
                "theme": theme or "unthemed",
                "complaint_answers": len(mine),
                "detractors": sum(1 for s in mine if s <= 6),
                "nps_without": None if without is None else round(without, 1),
                "points": None if without is None else round(without - overall, 1),
            }
        )
    themes.sort(key=lambda t: (-(t["points"] or 0), t["theme"]))
    return {"nps": None if overall is None else round(overall, 1), "themes": themes}


def _praise(row: dict[str, Any]) -> bool:
    kind = row.get("kind")
    return kind == "praise" or (kind is None and row["sentiment_label"] == "positive")


def expected_themes(
    rows: list[dict[str, Any]], since: datetime, until: datetime, bucket: Literal["day", "week"]
) -> dict[str, list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        if since <= row["occurred_at"] < until:
            key = (row["theme"] or "unthemed", service.bucket_of(row["occurred_at"], bucket))
            cells[key].append(row)
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (theme, start), items in sorted(cells.items()):
        n = len(items)
        praise = sum(1 for r in items if _praise(r))
        series[theme].append(
            {
                "bucket": start,
                "volume": n,
                "complaints": sum(1 for r in items if r["is_complaint"]),
                "praise": praise,
                "praise_share": round(praise / n, 3),
                "mean_sentiment": round(statistics.fmean(r["sentiment_score"] for r in items), 3),
                "negative_share": round(sum(1 for r in items if r["sentiment_score"] < 0) / n, 3),
            }
        )
    return dict(series)


def _close(actual: Any, expected: Any, where: str) -> None:
    """Equal, floats within 1e-3 (means are summed in millionths, then rounded)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            _close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1.01e-3), where
    else:
        assert actual == expected, where


engine = migrated_engine(upgrade)


async def _mutate(
    conn: AsyncConnection, rng: random.Random, rows: dict[str, dict[str, Any]]
) -> None:
    """Updates some rows (one summed column, or all of them) and deletes others."""
    for row_id in rng.sample(sorted(rows), k=len(rows) // 3):
        fresh = _analysis(rng)
        changes = fresh if rng.random() < 0.5 else dict([rng.choice(sorted(fresh.items()))])
        await conn.execute(update(feedback_t).where(feedback_t.c.id == row_id).values(changes))
        rows[row_id].update(changes)
    gone = rng.sample(sorted(rows), k=len(rows) // 5)
    await conn.execute(delete(feedback_t).where(feedback_t.c.id.in_(gone)))
    for row_id in gone:
        del rows[row_id]
    # An update of columns the rollup does not read changes nothing in it.
    some = sorted(rows)[:3]
    await conn.execute(
        update(feedback_t).where(feedback_t.c.id.in_(some)).values(close_outcome="resolved")
    )


def _period(rng: random.Random) -> tuple[datetime, datetime]:
    """A random period: whole days, or edges at any second, or inside one day."""
    a = START - timedelta(days=1) + timedelta(seconds=rng.randrange((DAYS + 2) * 86400))
    b = START - timedelta(days=1) + timedelta(seconds=rng.randrange((DAYS + 2) * 86400))
    since, until = min(a, b), max(a, b) + timedelta(seconds=1)
    if rng.random() < 0.3:
        since = since.replace(hour=0, minute=0, second=0)
        until = until.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    return since, until


def _filters(rng: random.Random) -> dict[str, list[str]]:
    pool = {
        "theme": ["sizing", "delivery", "unknown"],
        "tier": ["gold", "standard", "unknown"],
        "language": ["en", "de", "unknown"],
        "channel": list(CHANNELS),
    }
    chosen = rng.sample(sorted(pool), k=rng.randint(0, 2))
    return {d: rng.sample(pool[d], k=rng.randint(1, 2)) for d in chosen}


@pytest.mark.parametrize("seed", range(6))
async def test_rollup_equals_the_rows_after_random_inserts_updates_and_deletes(
    engine: AsyncEngine, seed: int
) -> None:
    rng = random.Random(seed)
    rows: dict[str, dict[str, Any]] = {}
    for round_ in range(3):
        fresh = [_row(rng, 1000 * round_ + i) for i in range(rng.randint(1, 60))]
        async with engine.begin() as conn:
            await conn.execute(insert(feedback_t), fresh)
            rows.update({r["id"]: r for r in fresh})
            await _mutate(conn, rng, rows)
        async with engine.connect() as conn:
            table = await _rollup_table(conn)
            assert table == await _recomputed(conn), f"seed {seed}, round {round_}"
            assert sum(cell["feedback"] for cell in table.values()) == len(rows)
            await _compare_answers(conn, rng, list(rows.values()), f"seed {seed}/{round_}")
    async with engine.begin() as conn:
        await conn.execute(delete(feedback_t))
    async with engine.connect() as conn:
        assert await _rollup_table(conn) == {}


async def _compare_answers(
    conn: AsyncConnection, rng: random.Random, rows: list[dict[str, Any]], where: str
) -> None:
    for _ in range(8):
        since, until = _period(rng)
        filters = _filters(rng)
        got = await service.scores(
            conn=conn,
            since=since,
            until=until,
            dimensions=["segment", "channel", "theme", "tier", "language"],
            filters=filters,
        )
        want = expected_scores(rows, since, until, filters)
        _close(
            {"overall": got["overall"], "by": got["by"]},
            want,
            f"{where} {since}..{until} {filters}",
        )
        impact = await service.nps_impact(conn=conn, since=since, until=until, filters=filters)
        _close(
            {"nps": impact["nps"], "themes": impact["themes"]},
            expected_impact(rows, since, until, filters),
            f"{where} nps impact",
        )
        bucket: Literal["day", "week"] = rng.choice(("day", "week"))
        themes = await service.themes_over_time(conn=conn, since=since, until=until, bucket=bucket)
        _close(themes["themes"], expected_themes(rows, since, until, bucket), f"{where} themes")


def _upgrade_to(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url, MIGRATIONS.directory, MIGRATIONS.metadata)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    connection.commit()


async def test_the_migration_backfills_the_rollup_from_rows_stored_before_it(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_upgrade_to, database_url, "0003")
        rng = random.Random(42)
        # Rows as stored before 0004 added feedback.kind: their praise is their positive ones.
        stored = [{k: v for k, v in _row(rng, i).items() if k != "kind"} for i in range(80)]
        async with engine.begin() as conn:
            await conn.execute(insert(feedback_t), stored)
        await upgrade(engine)
        async with engine.connect() as conn:
            table = await _rollup_table(conn)
            assert sum(cell["feedback"] for cell in table.values()) == 80
            assert table == await _recomputed(conn)
            since, until = START, START + timedelta(days=DAYS)
            got = await service.scores(
                conn=conn, since=since, until=until, dimensions=["theme"], filters={}
            )
            themes = await service.themes_over_time(
                conn=conn, since=since, until=until, bucket="week"
            )
        _close(got["overall"], expected_scores(stored, since, until, {})["overall"], "backfill")
        _close(themes["themes"], expected_themes(stored, since, until, "week"), "backfill")
    finally:
        await engine.dispose()
