"""The daily KPI rollup (`feedback_day`): sums per day and dimension, kept by database triggers.

Each row of `feedback_day` holds the counts and sums of the feedback of one UTC day and one
combination of theme, segment, tier, channel, language, CSAT method and CES scale. Triggers on
`feedback` (insert, delete, and update of the columns summed here) add a row's share and take
the old share away in the same transaction as the change, on SQLite and on PostgreSQL alike, so
every writer (consumer, re-analysis, merges, erasure) keeps it right without knowing it exists.
Migration 0005 creates the table and the triggers and fills it from the rows already stored.
A later migration that rebuilds `feedback` on SQLite (Alembic batch mode's "move and copy", e.g.
to drop or retype a column) drops its triggers: it must run `create_triggers` again (and change
them if a summed column changes). test_kpi_rollup runs on the newest schema, so it notices.

Reads take whole days from the rollup and the partial days at either edge of a period from the
feedback rows, summed by the same expressions in SQL: a period's figures equal the row-level
computation exactly (means to 1e-6: sentiment and CSAT-mean sums are kept in millionths).

Erasure: the rollup holds no text, customer id or other personal data, only counts per day and
dimension; deleting a customer's feedback rows takes their share out through the triggers.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from feedloop.prioritize.models import feedback_day_t, feedback_t, issue_t
from sqlalchemy import ColumnElement, and_, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

KEYS = ("day", "theme", "segment", "tier", "channel", "language", "csat_method", "ces_scale")
"""The rollup's key; '' stands for a missing value (key columns cannot be NULL)."""
MEASURES = (
    "feedback",
    "complaints",
    "praise",
    "sentiment_micro",
    "negative",
    "nps_n",
    "promoters",
    "detractors",
    "csat_n",
    "csat_hits",
    "csat_norm_micro",
    "ces_n",
    "ces_score_sum",
    "ces_easy",
    "complaint_nps_n",
    "complaint_promoters",
    "complaint_detractors",
)
"""What each rollup row sums (integers: millionths for the sentiment and CSAT-mean sums)."""
WATCHED = (
    "occurred_at",
    "theme",
    "segment",
    "tier",
    "channel",
    "enrichment",
    "kind",
    "sentiment_label",
    "sentiment_score",
    "is_complaint",
    "nps",
    "csat",
    "ces",
)
"""Columns of `feedback` the rollup reads: an update of any of them moves the row's share."""
FILTERABLE = ("theme", "segment", "tier", "channel", "language")
MISSING = {"unknown", "unthemed"}
"""Filter values that also select feedback without a value of that dimension."""
EASY = "CAST(0.6666666666666666 AS DOUBLE PRECISION)"  # the float 2/3, as stats.ces compares


@dataclass(frozen=True)
class Dialect:
    """How one database spells a UTC day and a JSON value."""

    name: str

    @property
    def postgres(self) -> bool:
        """True on PostgreSQL."""
        return self.name == "postgresql"

    def day(self, r: str) -> str:
        """The UTC day of the row's occurred_at, YYYY-MM-DD."""
        if self.postgres:
            return f"to_char({r}.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        return f"substr({r}.occurred_at, 1, 10)"  # SQLite stores naive UTC 'YYYY-MM-DD HH:...'

    def text(self, r: str, column: str, *path: str) -> str:
        """A JSON member as text (NULL when absent or JSON null)."""
        if self.postgres:
            return f"({r}.{column} #>> '{{{','.join(path)}}}')"
        return f"json_extract({r}.{column}, '$.{'.'.join(path)}')"

    def number(self, r: str, column: str, *path: str) -> str:
        """A JSON member as a number."""
        return f"CAST({self.text(r, column, *path)} AS DOUBLE PRECISION)"


def key_sql(d: Dialect, r: str) -> dict[str, str]:
    """The key columns of a feedback row aliased `r`, as SQL expressions."""
    scale, direction = d.text(r, "ces", "scale_max"), d.text(r, "ces", "direction")
    return {
        "day": d.day(r),
        "theme": f"COALESCE({r}.theme, '')",
        "segment": f"COALESCE({r}.segment, '')",
        "tier": f"COALESCE({r}.tier, '')",
        "channel": f"COALESCE({r}.channel, '')",
        "language": f"COALESCE({d.text(r, 'enrichment', 'language', 'code')}, '')",
        "csat_method": f"COALESCE({d.text(r, 'csat', 'method')}, '')",
        "ces_scale": f"CASE WHEN {scale} IS NULL THEN '' "
        f"ELSE '1-' || {scale} || ' ' || COALESCE({direction}, '') END",
    }


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def measure_sql(d: Dialect, r: str) -> dict[str, str]:
    """What a feedback row aliased `r` adds to each measure, as SQL expressions."""
    method = d.text(r, "csat", "method")
    score, top = d.number(r, "csat", "score"), d.number(r, "csat", "scale_max")
    return {
        "feedback": "1",
        "complaints": _flag(f"{r}.is_complaint"),
        "praise": _flag(
            f"{r}.kind = 'praise' OR ({r}.kind IS NULL AND {r}.sentiment_label = 'positive')"
        ),
        "sentiment_micro": f"CAST(round({r}.sentiment_score * 1000000) AS BIGINT)",
        "negative": _flag(f"{r}.sentiment_score < 0"),
        "nps_n": _flag(f"{r}.nps IS NOT NULL"),
        "promoters": _flag(f"{r}.nps >= 9"),
        "detractors": _flag(f"{r}.nps <= 6"),
        "csat_n": _flag(f"{method} IS NOT NULL"),
        "csat_hits": f"CASE WHEN {method} IS NULL OR {method} = 'mean' THEN 0 "
        f"WHEN {method} = 'top_box' THEN {_flag(f'{score} > {top} - 1')} "
        f"ELSE {_flag(f'{score} > {top} - 2')} END",
        "csat_norm_micro": f"CASE WHEN {method} = 'mean' THEN COALESCE(CAST(round("
        f"{d.number(r, 'csat', 'normalised')} * 1000000) AS BIGINT), 0) ELSE 0 END",
        "ces_n": _flag(f"{d.text(r, 'ces', 'scale_max')} IS NOT NULL"),
        "ces_score_sum": f"COALESCE(CAST({d.number(r, 'ces', 'score')} AS BIGINT), 0)",
        "ces_easy": _flag(f"{d.number(r, 'ces', 'ease')} >= {EASY}"),
        "complaint_nps_n": _flag(f"{r}.is_complaint AND {r}.nps IS NOT NULL"),
        "complaint_promoters": _flag(f"{r}.is_complaint AND {r}.nps >= 9"),
        "complaint_detractors": _flag(f"{r}.is_complaint AND {r}.nps <= 6"),
    }


def _add(d: Dialect, r: str) -> str:
    keys, measures = key_sql(d, r), measure_sql(d, r)
    added = ", ".join(f"{m} = feedback_day.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO feedback_day ({', '.join(KEYS)}, {', '.join(MEASURES)}) "
        f"VALUES ({', '.join(keys.values())}, {', '.join(measures.values())}) "
        f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {added}"
    )


def _take(d: Dialect, r: str) -> list[str]:
    keys, measures = key_sql(d, r), measure_sql(d, r)
    where = " AND ".join(f"{k} = {expr}" for k, expr in keys.items())
    taken = ", ".join(f"{m} = {m} - ({expr})" for m, expr in measures.items())
    return [
        f"UPDATE feedback_day SET {taken} WHERE {where}",
        f"DELETE FROM feedback_day WHERE {where} AND feedback = 0",
    ]


def create_triggers(dialect_name: str) -> list[str]:
    """The statements that create the rollup's triggers on `feedback`."""
    d = Dialect(dialect_name)
    watched = ", ".join(WATCHED)
    if d.postgres:
        take = ";\n    ".join(_take(d, "OLD"))
        return [
            "CREATE OR REPLACE FUNCTION feedback_day_apply() RETURNS trigger AS $body$\n"
            "BEGIN\n"
            "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            f"    {take};\n"
            "  END IF;\n"
            "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
            f"    {_add(d, 'NEW')};\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END\n$body$ LANGUAGE plpgsql",
            "CREATE TRIGGER feedback_day_insert_delete AFTER INSERT OR DELETE ON feedback "
            "FOR EACH ROW EXECUTE FUNCTION feedback_day_apply()",
            f"CREATE TRIGGER feedback_day_update AFTER UPDATE OF {watched} ON feedback "
            "FOR EACH ROW EXECUTE FUNCTION feedback_day_apply()",
        ]
    take = ";\n  ".join(_take(d, "OLD"))
    return [
        f"CREATE TRIGGER feedback_day_insert AFTER INSERT ON feedback BEGIN\n"
        f"  {_add(d, 'NEW')};\nEND",
        f"CREATE TRIGGER feedback_day_delete AFTER DELETE ON feedback BEGIN\n  {take};\nEND",
        f"CREATE TRIGGER feedback_day_update AFTER UPDATE OF {watched} ON feedback BEGIN\n"
        f"  {take};\n  {_add(d, 'NEW')};\nEND",
    ]


def drop_triggers(dialect_name: str) -> list[str]:
    """The statements that drop the rollup's triggers."""
    if dialect_name == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS feedback_day_insert_delete ON feedback",
            "DROP TRIGGER IF EXISTS feedback_day_update ON feedback",
            "DROP FUNCTION IF EXISTS feedback_day_apply()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS feedback_day_{name}" for name in ("insert", "delete", "update")
    ]


def backfill(dialect_name: str) -> str:
    """The statement that fills `feedback_day` from the feedback rows already stored."""
    d = Dialect(dialect_name)
    keys, measures = key_sql(d, "r"), measure_sql(d, "r")
    sums = ", ".join(f"SUM({expr})" for expr in measures.values())
    positions = ", ".join(str(i + 1) for i in range(len(KEYS)))
    return (
        f"INSERT INTO feedback_day ({', '.join(KEYS)}, {', '.join(MEASURES)}) "
        f"SELECT {', '.join(keys.values())}, {sums} FROM feedback r GROUP BY {positions}"
    )


Cell = dict[str, Any]
"""The sums of the measures of one group (its key columns included)."""
Filters = Mapping[str, Sequence[str]]


def _wanted(values: Sequence[str]) -> list[str]:
    return [*values, ""] if MISSING & set(values) else list(values)


async def _from_rollup(
    conn: AsyncConnection, first: str, end: str, group: Sequence[str], filters: Filters
) -> list[Cell]:
    t = feedback_day_t
    where: list[ColumnElement[bool]] = [t.c.day >= first, t.c.day < end]
    where += [t.c[k].in_(_wanted(v)) for k, v in filters.items() if v]
    query = (
        select(*(t.c[k] for k in group), *(func.sum(t.c[m]).label(m) for m in MEASURES))
        .where(and_(*where))
        .group_by(*(t.c[k] for k in group))
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def _from_rows(
    conn: AsyncConnection, since: datetime, until: datetime, group: Sequence[str], filters: Filters
) -> list[Cell]:
    d = Dialect(conn.dialect.name)
    r = feedback_t.alias("r")
    keys, measures = key_sql(d, "r"), measure_sql(d, "r")
    where: list[ColumnElement[bool]] = [r.c.occurred_at >= since, r.c.occurred_at < until]
    where += [literal_column(keys[k]).in_(_wanted(v)) for k, v in filters.items() if v]
    grouped: list[ColumnElement[Any]] = [literal_column(keys[k]) for k in group]
    query = (
        select(
            *(g.label(k) for g, k in zip(grouped, group, strict=True)),
            *(func.sum(literal_column(measures[m])).label(m) for m in MEASURES),
        )
        .select_from(r)
        .where(and_(*where))
        .group_by(*grouped)
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


def issues_with_feedback(dialect_name: str, filters: Filters) -> ColumnElement[bool]:
    """Issues that have feedback passing the filters (any of the values per dimension, with
    the same expressions and 'unknown' as the KPI filters)."""
    keys = key_sql(Dialect(dialect_name), "r")
    r = feedback_t.alias("r")
    where: list[ColumnElement[bool]] = [r.c.issue_id.is_not(None)]
    where += [literal_column(keys[k]).in_(_wanted(v)) for k, v in filters.items() if v]
    return issue_t.c.id.in_(select(r.c.issue_id).where(and_(*where)))


def _midnight(day: Any) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def cells(
    conn: AsyncConnection,
    *,
    since: datetime,
    until: datetime,
    group: Sequence[str],
    filters: Filters | None = None,
) -> list[Cell]:
    """The measures summed per `group` (key columns) over [since, until), filtered: whole UTC
    days from the rollup, the partial days at either edge from the feedback rows."""
    filters = {k: v for k, v in (filters or {}).items() if v}
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if until <= since:
        return []
    first = since.date() if since == _midnight(since.date()) else since.date() + timedelta(1)
    end = until.date()
    if first >= end:
        return merge(await _from_rows(conn, since, until, group, filters), group)
    parts = await _from_rollup(conn, first.isoformat(), end.isoformat(), group, filters)
    if since < _midnight(first):
        parts += await _from_rows(conn, since, _midnight(first), group, filters)
    if _midnight(end) < until:
        parts += await _from_rows(conn, _midnight(end), until, group, filters)
    return merge(parts, group)


def merge(parts: Iterable[Cell], group: Sequence[str]) -> list[Cell]:
    """Adds up cells of the same group."""
    out: dict[tuple[Any, ...], Cell] = {}
    for part in parts:
        key = tuple(part[k] for k in group)
        cell = out.get(key)
        if cell is None:
            out[key] = {**{k: part[k] for k in group}, **{m: int(part[m] or 0) for m in MEASURES}}
        else:
            for m in MEASURES:
                cell[m] += int(part[m] or 0)
    return list(out.values())
