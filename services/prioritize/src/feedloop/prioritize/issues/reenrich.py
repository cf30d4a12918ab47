"""Replacing a stored item's enrichment with a newer one: re-analysis of history.

enrich's `reprocess` command emits a new `feedback.enriched` for items already stored, under a
new event id (feedback id + model and taxonomy versions). It replaces the stored analysis only
when it is newer: other versions than the stored ones, and made later (the envelope's
`occurred_at`, kept as `enriched_at`), so an old copy replayed from a dead-letter topic never
undoes a re-analysis. The same event again, or the same versions under another id, is a repeat.

Where a re-analysed item goes:
- linked to a resolved or won't-fix issue: it keeps that link. Its customer was (or is being)
  told about that resolution, and a closed issue's counts stay as they were announced; the row
  takes the new analysis, so theme volumes and KPIs follow it. Nothing is emitted.
- still a complaint of its open issue's theme and near its centroid: it stays; the issue is
  rebuilt from its members (sums, centroid, customers), rescored and announced (issue.updated).
- otherwise it leaves: its row is taken out, its issue rebuilt without it, and it is stored
  again like new feedback (closing fields kept), so it joins the right issue or opens one and
  notify moves its link (feedback.prioritized). An open issue nobody looks after yet (status
  new, no owner) that loses its last member this way is merged into the issue that took most of
  them; one that people look after stays, empty, for them to close.
Nothing is counted twice: theme volumes lose the old (theme, day) as they gain the new one, and
every issue an item leaves or changes in is rebuilt from its members.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

from feedloop.common.db import is_postgres, lock_keys
from feedloop.common.events import Enrichment
from feedloop.prioritize.grouping import CLOSED, similarity, to_vector
from feedloop.prioritize.issues import evidence
from feedloop.prioritize.issues.regroup import rebuild
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import issue_of, save_issue
from feedloop.prioritize.models import feedback_t, issue_t
from feedloop.prioritize.rows import FeedbackRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from feedloop.prioritize.signals import theme_of
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from feedloop.prioritize.issues.assign import Incoming

Versions = tuple[str, str, str]
CARRIED = ("stored_at", "closed_at", "time_to_close_s", "close_outcome")
"""Columns a re-analysed item keeps: they describe its life in the loop, not its analysis."""
ANALYSIS = (
    "event_id",
    "enriched_at",
    "theme",
    "sentiment_label",
    "sentiment_score",
    "is_complaint",
    "text",
    "enrichment",
    "ref",
    "embedding",
)
"""Columns a re-analysis replaces on an item that keeps its issue."""
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Carried(TypedDict):
    """The columns in CARRIED."""

    stored_at: datetime
    closed_at: datetime | None
    time_to_close_s: float | None
    close_outcome: str | None


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds of an item that an incoming enrichment may replace."""

    id: str
    event_id: str
    enriched_at: datetime | None
    versions: Versions
    theme: str
    occurred_at: datetime
    is_complaint: bool
    issue_id: str | None
    issue_theme: str | None
    carried: Carried


@dataclass(slots=True)
class Triage:
    """A batch sorted: new items, newer analyses of stored ones, and repeats."""

    fresh: list["Incoming"] = field(default_factory=list)
    replacing: list["Incoming"] = field(default_factory=list)
    repeats: int = 0


@dataclass(slots=True)
class Replaced:
    """What replacing analyses did, and what the rest of the batch needs to know of it."""

    moving: list["Incoming"] = field(default_factory=list)
    in_place: int = 0
    revisions: dict[str, str] = field(default_factory=dict)
    carried: dict[str, Carried] = field(default_factory=dict)
    left: dict[str, str] = field(default_factory=dict)
    issues: dict[str, IssueRow] = field(default_factory=dict)

    def restore(self, rows: Iterable[FeedbackRow]) -> None:
        """Gives the new rows of moving items back the columns they keep."""
        for row in rows:
            carried = self.carried.get(row["id"])
            if carried is not None:
                row["stored_at"], row["closed_at"] = carried["stored_at"], carried["closed_at"]
                row["time_to_close_s"] = carried["time_to_close_s"]
                row["close_outcome"] = carried["close_outcome"]

    def revision(self, feedback_id: str) -> str | None:
        """The new enrichment's event id of a moving item (None for new feedback)."""
        return self.revisions.get(feedback_id)


def versions_of(enrichment: Enrichment | Mapping[str, Any]) -> Versions:
    """The (sentiment model, embedding model, taxonomy) an enrichment was made with."""
    if isinstance(enrichment, Enrichment):
        return (enrichment.sentiment_model, enrichment.embedding_model, enrichment.taxonomy_version)
    return (
        str(enrichment.get("sentiment_model", "")),
        str(enrichment.get("embedding_model", "")),
        str(enrichment.get("taxonomy_version", "")),
    )


def newest(batch: Sequence["Incoming"]) -> dict[str, "Incoming"]:
    """One event per feedback id: the latest made (on a tie, the later in the batch)."""
    chosen: dict[str, Incoming] = {}
    for inc in batch:
        current = chosen.get(inc.event.feedback_id)
        if current is None or (inc.enriched_at or _EARLIEST) >= (current.enriched_at or _EARLIEST):
            chosen[inc.event.feedback_id] = inc
    return chosen


def supersedes(inc: "Incoming", old: Stored) -> bool:
    """True when an incoming enrichment is a newer analysis than the stored one."""
    if inc.event_id == old.event_id or versions_of(inc.event.enrichment) == old.versions:
        return False
    if inc.enriched_at is None or old.enriched_at is None:
        return True  # stored before enriched_at was kept, or sent by a producer without it
    return inc.enriched_at > old.enriched_at


def triage(unique: Mapping[str, "Incoming"], stored: Mapping[str, Stored]) -> Triage:
    """Sorts a batch (one event per feedback id) by what the store already holds."""
    result = Triage()
    for feedback_id, inc in unique.items():
        old = stored.get(feedback_id)
        if old is None:
            result.fresh.append(inc)
        elif supersedes(inc, old):
            result.replacing.append(inc)
        else:
            result.repeats += 1
    return result


def stays(row: FeedbackRow, issue: IssueRow, settings: PrioritizeSettings) -> bool:
    """True when a re-analysed item still belongs to its open issue: same theme, near it.

    A vector of another size (a new embedding model) cannot be compared with the centroid: the
    theme decides, so a model change does not scatter every issue people already work on. The
    rebuild moves the centroid to the new model once most members are re-analysed, and
    consolidation then merges young issues the new model finds alike.
    """
    if issue["merged_into"] or not row["is_complaint"] or row["theme"] != issue["theme"]:
        return False
    vector, centroid = to_vector(row["embedding"]), to_vector(issue["centroid"])
    if vector.size and centroid.size and vector.shape != centroid.shape:
        return True
    return similarity(vector, centroid) >= settings.similarity_threshold


async def load_stored(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, Stored]:
    """Reads the stored items among the ids, with the theme of the issue each belongs to."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = await conn.execute(
        select(
            feedback_t.c.id,
            feedback_t.c.event_id,
            feedback_t.c.enriched_at,
            feedback_t.c.enrichment,
            feedback_t.c.theme,
            feedback_t.c.occurred_at,
            feedback_t.c.is_complaint,
            feedback_t.c.issue_id,
            issue_t.c.theme.label("issue_theme"),
            *(feedback_t.c[name] for name in CARRIED),
        )
        .select_from(feedback_t.outerjoin(issue_t, issue_t.c.id == feedback_t.c.issue_id))
        .where(feedback_t.c.id.in_(wanted))
    )
    return {
        r.id: Stored(
            id=r.id,
            event_id=r.event_id,
            enriched_at=r.enriched_at,
            versions=versions_of(r.enrichment or {}),
            theme=r.theme,
            occurred_at=r.occurred_at,
            is_complaint=r.is_complaint,
            issue_id=r.issue_id,
            issue_theme=r.issue_theme,
            carried=cast(Carried, {name: r._mapping[name] for name in CARRIED}),
        )
        for r in rows
    }


def _themes(stored: Iterable[Stored]) -> set[str]:
    return {t for s in stored for t in (s.theme, s.issue_theme) if t}


async def lock_and_load(
    conn: AsyncConnection, unique: Mapping[str, "Incoming"]
) -> dict[str, Stored]:
    """Takes the theme locks of the batch and of what its items were, then reads them."""
    stored = await load_stored(conn, unique)
    locked = {theme_of(inc.event) for inc in unique.values()} | _themes(stored.values())
    await lock_keys(conn, [f"theme:{t}" for t in locked])
    if stored and is_postgres(conn):
        # Read again under the locks: another replica may have moved an item meanwhile.
        stored = await load_stored(conn, unique)
        extra = _themes(stored.values()) - locked
        if extra:
            await lock_keys(conn, [f"theme:{t}" for t in extra])
    return stored


async def replace(
    conn: AsyncConnection,
    replacing: Sequence[tuple["Incoming", FeedbackRow]],
    stored: Mapping[str, Stored],
    settings: PrioritizeSettings,
    *,
    now: datetime,
) -> Replaced:
    """Applies newer analyses: in place where an item keeps its issue, else takes it out."""
    out = Replaced()
    issues = await _load_issues(conn, {stored[r["id"]].issue_id for _, r in replacing})
    days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    in_place: list[FeedbackRow] = []
    for inc, row in replacing:
        old = stored[row["id"]]
        _count(days, old.theme, old.occurred_at, old.is_complaint, -1)
        issue = issues.get(old.issue_id or "")
        if issue is not None and (issue["status"] in CLOSED or stays(row, issue, settings)):
            _count(days, row["theme"], row["occurred_at"], row["is_complaint"], 1)
            in_place.append(row)
            if issue["status"] not in CLOSED:
                out.issues[issue["id"]] = issue
            continue
        out.moving.append(inc)
        out.carried[row["id"]] = old.carried
        out.revisions[row["id"]] = inc.event_id
        if issue is not None and not issue["merged_into"]:
            out.left[row["id"]] = issue["id"]
            out.issues[issue["id"]] = issue
    for row in in_place:
        await conn.execute(
            update(feedback_t)
            .where(feedback_t.c.id == row["id"])
            .values({name: cast(Mapping[str, Any], row)[name] for name in ANALYSIS})
        )
    await _take_out(conn, list(out.carried), out.issues)
    await evidence.bump_theme_days(conn, days)
    await _rebuild_all(conn, out.issues, settings, now=now)
    out.in_place = len(in_place)
    return out


def _count(
    days: dict[tuple[str, str], list[int]], theme: str, at: datetime, complaint: bool, sign: int
) -> None:
    counts = days[(theme, evidence.day_of(at))]
    counts[0] += sign
    counts[1] += sign * int(complaint)


async def _load_issues(conn: AsyncConnection, ids: set[str | None]) -> dict[str, IssueRow]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    query = select(issue_t).where(issue_t.c.id.in_(wanted))
    if is_postgres(conn):
        query = query.with_for_update()
    return {row.id: issue_of(row) for row in await conn.execute(query)}


async def _take_out(conn: AsyncConnection, ids: list[str], issues: dict[str, IssueRow]) -> None:
    """Deletes the rows of leaving items; reports that repeated them count in their stead."""
    if not ids:
        return
    repeats = await conn.execute(
        select(feedback_t.c.issue_id).where(feedback_t.c.duplicate_of.in_(ids)).distinct()
    )
    # Their issues' counts change too, so those issues are rebuilt as well (closed ones keep
    # the counts they were announced with).
    more = await _load_issues(conn, {r.issue_id for r in repeats} - set(issues))
    issues.update({i: issue for i, issue in more.items() if issue["status"] not in CLOSED})
    await conn.execute(
        update(feedback_t).where(feedback_t.c.duplicate_of.in_(ids)).values(duplicate_of=None)
    )
    await conn.execute(delete(feedback_t).where(feedback_t.c.id.in_(ids)))


async def _rebuild_all(
    conn: AsyncConnection,
    issues: dict[str, IssueRow],
    settings: PrioritizeSettings,
    *,
    now: datetime,
) -> None:
    """Rebuilds the issues from their members, rescores them and announces each once."""
    if not issues:
        return
    volumes = await load_volumes(conn, {i["theme"] for i in issues.values()}, settings, now)
    for issue in issues.values():
        await rebuild(conn, issue)
        changes = rescore(issue, volumes, settings, now=now)
        await save_issue(
            conn=conn,
            issue=issue,
            changes=["membership", *changes],
            prefix=settings.kafka_topic_prefix,
            now=now,
        )


async def merge_emptied(
    conn: AsyncConnection,
    replaced: Replaced,
    placed: Mapping[str, str | None],
    settings: PrioritizeSettings,
    *,
    now: datetime,
) -> list[tuple[str, str]]:
    """Merges each emptied issue nobody looks after into the issue that took most of it."""
    went: dict[str, Counter[str]] = defaultdict(Counter)
    for feedback_id, source in replaced.left.items():
        target = placed.get(feedback_id)
        if target and target != source:
            went[source][target] += 1
    merged = []
    for source, targets in sorted(went.items()):
        issue = replaced.issues[source]
        if issue["feedback_count"] or issue["status"] != "new" or issue["owner"]:
            continue
        target = max(sorted(targets), key=lambda t: targets[t])
        issue["merged_into"] = target
        await save_issue(
            conn=conn,
            issue=issue,
            changes=["merged_into"],
            prefix=settings.kafka_topic_prefix,
            now=now,
        )
        merged.append((source, target))
    return merged
