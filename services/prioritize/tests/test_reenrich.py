"""A newer analysis of stored feedback moves it to the right issue; counts stay exact; replays
change nothing (SQLite and PostgreSQL)."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import orjson
from feedloop.common.events import FeedbackEnriched, deterministic_id
from feedloop.prioritize.issues.assign import BatchResult, Incoming, store_batch
from feedloop.prioritize.issues.evidence import day_of
from feedloop.prioritize.issues.reenrich import (
    Carried,
    Stored,
    newest,
    stays,
    triage,
    versions_of,
)
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import (
    Base,
    Feedback,
    Issue,
    IssueCustomer,
    OutboxEvent,
    ThemeDay,
    table_of,
)
from feedloop.prioritize.rows import FeedbackRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.fixtures import migrated_engine

from .conftest import make_settings
from .factory import enriched, theme_vector

V1 = ("sentiment-a", "encoder-a", "2025.1@aaaa")
V2 = ("sentiment-a", "encoder-a", "2025.2@bbbb")
MADE = datetime.now(UTC) - timedelta(hours=1)


def analysed(
    event: FeedbackEnriched,
    versions: tuple[str, str, str],
    *,
    theme: str | None = None,
    cluster: str | None = None,
    score: float | None = None,
) -> FeedbackEnriched:
    """The event as another model and taxonomy would analyse it."""
    e = event.enrichment
    theme = theme or e.primary_theme
    sentiment = e.sentiment.model_copy(update={"score": score}) if score is not None else None
    sentiment = sentiment or e.sentiment
    update: dict[str, Any] = {
        "sentiment_model": versions[0],
        "embedding_model": versions[1],
        "taxonomy_version": versions[2],
        "primary_theme": theme,
        "themes": [t.model_copy(update={"theme": theme}) for t in e.themes],
        "sentiment": sentiment,
    }
    if cluster:
        update["embedding"] = theme_vector(cluster, noise=0.05, seed=hash(event.feedback_id) % 97)
    return event.model_copy(update={"enrichment": e.model_copy(update=update)})


def incoming(event: FeedbackEnriched, *, made: datetime) -> Incoming:
    """The event as prioritize's consumer hands it over: id from feedback id and versions."""
    versions = versions_of(event.enrichment)
    event_id = deterministic_id("feedback.enriched", event.feedback_id, *versions)
    return Incoming(event, event.feedback_id, event_id, enriched_at=made)


engine = migrated_engine(upgrade)


async def store(
    engine: AsyncEngine, settings: PrioritizeSettings, batch: list[Incoming]
) -> BatchResult:
    """Stores one batch in its own transaction, as the consumer does."""
    async with engine.begin() as conn:
        return await store_batch(conn=conn, batch=batch, settings=settings, now=datetime.now(UTC))


async def rows(engine: AsyncEngine, model: type[Base]) -> list[dict[str, Any]]:
    """The rows of a table as dicts, in primary key order."""
    table = table_of(model)
    async with engine.connect() as conn:
        query = select(table).order_by(*table.primary_key.columns)
        return [dict(r._mapping) for r in await conn.execute(query)]


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Everything a batch may change, comparable across a replay."""
    return {
        "issues": await rows(engine, Issue),
        "feedback": await rows(engine, Feedback),
        "customers": await rows(engine, IssueCustomer),
        "days": await rows(engine, ThemeDay),
        "outbox": await rows(engine, OutboxEvent),
    }


async def assert_counts_exact(engine: AsyncEngine) -> None:
    """Every issue's counts and customers, and every theme's daily volume, match the members."""
    snap = await snapshot(engine)
    feedback = snap["feedback"]
    for issue in (i for i in snap["issues"] if i["merged_into"] is None):
        members = [f for f in feedback if f["issue_id"] == issue["id"]]
        reports = [m for m in members if m["duplicate_of"] is None]
        customers = {m["customer_id"] for m in members}
        assert issue["feedback_count"] == issue["stats"]["reports"] == len(reports), issue["id"]
        assert issue["distinct_customers"] == len(customers), issue["id"]
        linked = {c["customer_id"] for c in snap["customers"] if c["issue_id"] == issue["id"]}
        assert linked == customers
    volumes = Counter((f["theme"], day_of(f["occurred_at"])) for f in feedback)
    complaints = Counter(
        (f["theme"], day_of(f["occurred_at"])) for f in feedback if f["is_complaint"]
    )
    days = snap["days"]
    assert {(d["theme"], d["day"]): d["total"] for d in days if d["total"]} == dict(volumes)
    assert {(d["theme"], d["day"]): d["complaints"] for d in days if d["complaints"]} == dict(
        complaints
    )


def issue_of(snap: dict[str, Any], feedback_id: str) -> str | None:
    """The issue a feedback item belongs to in a snapshot."""
    return next(f["issue_id"] for f in snap["feedback"] if f["id"] == feedback_id)


def live_issues(snap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issues not merged away, by theme."""
    return {i["theme"]: i for i in snap["issues"] if i["merged_into"] is None}


async def test_reanalysed_items_move_to_their_new_themes_issue_and_a_replay_changes_nothing(
    engine: AsyncEngine, database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    at = datetime.now(UTC) - timedelta(days=1)
    small = [enriched(f"s{i}", customer=f"s-{i}", cluster="fit", occurred_at=at) for i in range(3)]
    long = [enriched(f"l{i}", customer=f"l-{i}", cluster="fit", occurred_at=at) for i in range(3)]
    first = [analysed(e, V1) for e in small + long]
    await store(engine, settings, [incoming(e, made=MADE) for e in first])
    before = await snapshot(engine)
    assert [i["feedback_count"] for i in before["issues"]] == [6]

    again = [analysed(e, V2, theme="fit_length", cluster="long") for e in first[3:]]
    again += [analysed(e, V2) for e in first[:3]]
    batch = [incoming(e, made=MADE + timedelta(minutes=5)) for e in again]
    result = await store(engine, settings, batch)
    assert (result.reenriched, result.duplicates) == (6, 0)
    after = await snapshot(engine)
    issues = live_issues(after)
    assert {t: (i["feedback_count"], i["distinct_customers"]) for t, i in issues.items()} == {
        "sizing": (3, 3),
        "fit_length": (3, 3),
    }
    assert issues["sizing"]["id"] == before["issues"][0]["id"]
    assert {issue_of(after, e.feedback_id) for e in long} == {issues["fit_length"]["id"]}
    assert {issue_of(after, e.feedback_id) for e in small} == {issues["sizing"]["id"]}
    await assert_counts_exact(engine)
    # The moved items were announced with their new issue; the ones that stayed were not.
    stored_at = {f["id"]: f["stored_at"] for f in before["feedback"]}
    assert all(f["stored_at"] == stored_at[f["id"]] for f in after["feedback"])
    events = [orjson.loads(r["value"]) for r in after["outbox"][len(before["outbox"]) :]]
    linked = [
        e["payload"]["feedback"]["feedback_id"]
        for e in events
        if e["event_type"] == "feedback.prioritized"
    ]
    assert sorted(linked) == sorted(e.feedback_id for e in long)

    replay = await store(engine, settings, batch)
    assert (replay.reenriched, replay.duplicates) == (0, 6)
    stale = await store(engine, settings, [incoming(e, made=MADE) for e in first])
    assert (stale.reenriched, stale.duplicates) == (0, 6)
    assert await snapshot(engine) == after


async def test_an_issue_emptied_by_reanalysis_is_merged_into_the_issue_that_took_its_items(
    engine: AsyncEngine, database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    at = datetime.now(UTC) - timedelta(days=1)
    small = [
        enriched(f"s{i}", customer=f"s-{i}", cluster="small", occurred_at=at) for i in range(3)
    ]
    long = [enriched(f"l{i}", customer=f"l-{i}", cluster="long", occurred_at=at) for i in range(2)]
    first = [analysed(e, V1) for e in small + long]
    await store(engine, settings, [incoming(e, made=MADE) for e in first])
    before = await snapshot(engine)
    old_long = issue_of(before, long[0].feedback_id)
    assert old_long != issue_of(before, small[0].feedback_id)

    moved = [analysed(e, V2, theme="fit_length") for e in first[3:]]
    await store(engine, settings, [incoming(e, made=MADE + timedelta(minutes=5)) for e in moved])
    after = await snapshot(engine)
    target = live_issues(after)["fit_length"]
    emptied = next(i for i in after["issues"] if i["id"] == old_long)
    assert (emptied["merged_into"], emptied["feedback_count"]) == (target["id"], 0)
    assert (target["feedback_count"], target["distinct_customers"]) == (2, 2)
    await assert_counts_exact(engine)


async def test_items_of_a_resolved_issue_keep_their_link_and_only_their_analysis_changes(
    engine: AsyncEngine, database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    at = datetime.now(UTC) - timedelta(days=1)
    items = [enriched(f"r{i}", customer=f"r-{i}", occurred_at=at) for i in range(3)]
    first = [analysed(e, V1) for e in items]
    await store(engine, settings, [incoming(e, made=MADE) for e in first])
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE issue SET status = 'resolved'"))
    before = await snapshot(engine)

    moved = [analysed(e, V2, theme="fit_length", score=-0.3) for e in first]
    result = await store(
        engine, settings, [incoming(e, made=MADE + timedelta(minutes=5)) for e in moved]
    )
    after = await snapshot(engine)
    assert result.reenriched == 3
    assert after["issues"] == before["issues"]
    assert after["outbox"] == before["outbox"]
    assert {f["issue_id"] for f in after["feedback"]} == {before["issues"][0]["id"]}
    assert {(f["theme"], f["sentiment_score"]) for f in after["feedback"]} == {("fit_length", -0.3)}
    day = day_of(at)
    assert {(d["theme"], d["day"], d["total"]) for d in after["days"] if d["total"]} == {
        ("fit_length", day, 3)
    }


def test_only_a_newer_analysis_with_other_versions_replaces_the_stored_one() -> None:
    event = analysed(enriched("u1"), V1)
    old = Stored(
        id=event.feedback_id,
        event_id="e-v1",
        enriched_at=MADE,
        versions=V1,
        theme="sizing",
        occurred_at=MADE,
        is_complaint=True,
        issue_id=None,
        issue_theme=None,
        carried=cast(Carried, {}),
    )
    later = MADE + timedelta(minutes=1)
    newer = Incoming(analysed(event, V2), "c", "e-v2", enriched_at=later)
    older = Incoming(analysed(event, V2), "c", "e-v2", enriched_at=MADE - timedelta(minutes=1))
    same = Incoming(event, "c", "e-other-id", enriched_at=later)
    repeat = Incoming(event, "c", "e-v1", enriched_at=later)
    stored = {event.feedback_id: old}
    assert triage(newest([newer]), stored).replacing == [newer]
    for stale in (older, same, repeat):
        assert triage(newest([stale]), stored).repeats == 1
    assert newest([newer, older])[event.feedback_id] is newer
    assert triage(newest([newer]), {}).fresh == [newer]


def test_a_new_embedding_model_alone_does_not_move_an_item_out_of_its_issue() -> None:
    settings = make_settings()
    old = np.asarray(theme_vector("fit"), np.float32)
    issue = cast(IssueRow, {"theme": "sizing", "merged_into": None, "centroid": old.tobytes()})
    row = {"theme": "sizing", "is_complaint": True}

    def item(fields: dict[str, object]) -> FeedbackRow:
        return cast(FeedbackRow, row | fields)  # the fields stays() reads

    wider = np.ones(512, np.float32).tobytes()
    assert stays(item({"embedding": wider}), issue, settings)
    assert stays(item({"embedding": old.tobytes()}), issue, settings)
    unlike = np.asarray(theme_vector("zip"), np.float32).tobytes()
    assert not stays(item({"embedding": unlike}), issue, settings)
    assert not stays(
        cast(FeedbackRow, row | {"embedding": old.tobytes(), "theme": "fit_length"}),
        issue,
        settings,
    )
    assert not stays(
        cast(FeedbackRow, row | {"embedding": old.tobytes(), "is_complaint": False}),
        issue,
        settings,
    )
