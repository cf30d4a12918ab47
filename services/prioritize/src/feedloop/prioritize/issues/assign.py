"""Storing a batch of enriched feedback and assigning complaints to issues, in one transaction."""

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from feedloop.common.db import insert_ignoring_conflicts, is_postgres
from feedloop.common.events import FeedbackEnriched, FeedbackRef, deterministic_id
from feedloop.common.feedback import survey_scores
from feedloop.prioritize import outbox
from feedloop.prioritize.grouping import Candidate, Vector, best_match, similarity, to_vector
from feedloop.prioritize.inbox.service import Queued, inbox_rows, incident_rows
from feedloop.prioritize.issues import evidence, reenrich
from feedloop.prioritize.issues.consolidate import consolidate
from feedloop.prioritize.issues.followup import followup_of
from feedloop.prioritize.issues.payloads import (
    feedback_prioritized_row,
    issue_updated_row,
    kind_prioritized_row,
)
from feedloop.prioritize.issues.refresh import refresh_open
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import history_row, issue_of, new_issue, persist_issue
from feedloop.prioritize.kinds import kind_of
from feedloop.prioritize.models import customer_t, feedback_t, history_t, inbox_t, issue_t
from feedloop.prioritize.rows import CustomerRow, FeedbackRow, HistoryRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from feedloop.prioritize.signals import direction_of, is_complaint, signals_of, theme_of
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    """One decoded feedback.enriched event."""

    event: FeedbackEnriched
    correlation_id: str
    event_id: str
    enriched_at: datetime | None = None
    """The envelope's occurred_at: when enrich made this analysis (a newer one replaces it)."""


@dataclass
class BatchResult:
    """What one batch did."""

    stored: int = 0
    duplicates: int = 0
    reenriched: int = 0
    linked: int = 0
    issues_opened: int = 0
    merged: list[tuple[str, str]] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)


def feedback_row(inc: Incoming, *, now: datetime) -> FeedbackRow:
    """Returns the feedback row of an enriched event (issue fields unset)."""
    ev = inc.event
    item: Any = ev.item
    s = signals_of(ev)
    ref = FeedbackRef(
        feedback_id=ev.feedback_id,
        source_system=item.source_system,
        external_id=item.external_id,
        channel=item.channel,
        customer=item.customer,
        locale=item.locale,
        occurred_at=item.occurred_at,
        received_at=ev.received_at,
        sentiment=ev.enrichment.sentiment,
        survey_scores=survey_scores(item),
    )
    customer = item.customer
    complaint = is_complaint(ev, s)
    return {
        "id": ev.feedback_id,
        "event_id": inc.event_id,
        "issue_id": None,
        "duplicate_of": None,
        "customer_id": customer.id,
        "segment": customer.segment,
        "tier": customer.tier.value if customer.tier else None,
        "arr": customer.value.arr if customer.value else None,
        "channel": item.channel.value,
        "theme": theme_of(ev),
        "sentiment_label": ev.enrichment.sentiment.label,
        "sentiment_score": ev.enrichment.sentiment.score,
        "is_complaint": complaint,
        "nps": s.nps,
        "csat": s.csat,
        "ces": s.ces,
        "rating": s.rating,
        "text": item.text,
        "enrichment": ev.enrichment.model_dump(mode="json", exclude={"embedding"}),
        "ref": ref.model_dump(mode="json") | followup_of(item),
        "embedding": to_vector(ev.enrichment.embedding).tobytes() or None,
        "occurred_at": item.occurred_at,
        "received_at": ev.received_at,
        "stored_at": now,
        "enriched_at": inc.enriched_at,
        "closed_at": None,
        "time_to_close_s": None,
        "close_outcome": None,
        "kind": kind_of(ev, s, complaint=complaint),
    }


async def _load_candidates(
    conn: AsyncConnection, themes: set[str], since: datetime, closed_since: datetime
) -> dict[str, list[Candidate]]:
    query = select(issue_t).where(
        issue_t.c.theme.in_(themes),
        issue_t.c.merged_into.is_(None),
        # An issue that re-analysis emptied has no centroid: it would take every complaint.
        issue_t.c.feedback_count > 0,
        or_(issue_t.c.last_seen >= since, issue_t.c.resolved_at >= closed_since),
    )
    if is_postgres(conn):
        query = query.with_for_update()
    by_theme: dict[str, list[Candidate]] = defaultdict(list)
    for row in await conn.execute(query):
        issue = issue_of(row)
        members, norm = evidence.vector_sum(issue)
        by_theme[issue["theme"]].append(
            Candidate(
                id=issue["id"],
                theme=issue["theme"],
                status=issue["status"],
                centroid=to_vector(issue["centroid"]),
                members=members,
                last_seen=issue["last_seen"],
                resolved_at=issue["resolved_at"],
                row=issue,
                norm=norm,
                direction=evidence.direction(issue["stats"]),
            )
        )
    return by_theme


async def _load_customers(
    conn: AsyncConnection, issue_ids: list[str], customers: set[str]
) -> dict[tuple[str, str], CustomerRow]:
    if not issue_ids:
        return {}
    rows = await conn.execute(
        select(customer_t).where(
            and_(customer_t.c.issue_id.in_(issue_ids), customer_t.c.customer_id.in_(customers))
        )
    )
    return {(r.issue_id, r.customer_id): cast(CustomerRow, dict(r._mapping)) for r in rows}


async def store_batch(
    *, conn: AsyncConnection, batch: list[Incoming], settings: PrioritizeSettings, now: datetime
) -> BatchResult:
    """Stores new feedback and newer analyses, assigns complaints to issues, writes events."""
    result = BatchResult()
    unique = reenrich.newest(batch)
    result.duplicates = len(batch) - len(unique)
    stored = await reenrich.lock_and_load(conn, unique)
    triage = reenrich.triage(unique, stored)
    result.duplicates += triage.repeats
    replacing = [(inc, feedback_row(inc, now=now)) for inc in triage.replacing]
    replaced = await reenrich.replace(conn, replacing, stored, settings, now=now)
    fresh = sorted(triage.fresh + replaced.moving, key=lambda inc: inc.event.item.occurred_at)
    if not fresh and not triage.replacing:
        return result
    touched, placed = await _assign(conn, fresh, settings, result, replaced, now=now)
    touched |= {i: issue["theme"] for i, issue in replaced.issues.items()}
    result.merged = await reenrich.merge_emptied(conn, replaced, placed, settings, now=now)
    result.merged += await consolidate(
        conn,
        themes=set(touched.values()),
        touched=set(touched),
        since=min(inc.event.item.occurred_at for inc in fresh + triage.replacing),
        settings=settings,
        now=now,
    )
    await refresh_open(conn=conn, settings=settings, now=now)
    result.stored = len(fresh) + replaced.in_place
    result.reenriched = len(triage.replacing)
    if result.reenriched:
        log.info(
            "re-analysed feedback replaced",
            extra={"reenriched": result.reenriched, "moved": len(replaced.moving)},
        )
    return result


@dataclass
class Grouping:
    """One batch's grouping state: loaded issues and customers, and what deciding did to them."""

    candidates: dict[str, list[Candidate]]
    """Open and recently resolved issues by theme, as the grouping compares them."""
    customers: dict[tuple[str, str], CustomerRow]
    """(issue id, customer id): who already reported which issue."""
    by_id: dict[str, Candidate] = field(default_factory=dict)
    issues: dict[str, IssueRow] = field(default_factory=dict)
    day_counts: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    """(theme, day): [items, complaints] this batch adds."""
    touched: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Issue id: what changed on it."""
    new_customers: dict[tuple[str, str], CustomerRow] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    linked: list[tuple[FeedbackRow, str, str]] = field(default_factory=list)
    """(feedback row, issue id, correlation id) of each complaint placed."""
    others: list[tuple[FeedbackRow, str, str | None, list[str]]] = field(default_factory=list)
    """(feedback row, correlation id, revision, order refs) of each praise, question, remark."""
    complaints: list[Queued] = field(default_factory=list)
    """The same of each complaint placed: the one-off incidents among them are queued."""

    def __post_init__(self) -> None:
        for candidate in (c for cs in self.candidates.values() for c in cs):
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        """Indexes a candidate (and its issue row) by id."""
        self.by_id[candidate.id] = candidate
        self.issues[candidate.id] = candidate.row


async def _assign(
    conn: AsyncConnection,
    fresh: list[Incoming],
    settings: PrioritizeSettings,
    result: BatchResult,
    replaced: reenrich.Replaced,
    *,
    now: datetime,
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Stores items as new, assigns complaints to issues and writes the events to the outbox.

    Returns the touched issues (id: theme) and where each item went (feedback id: issue id).
    """
    if not fresh:
        return {}, {}
    rows = [feedback_row(inc, now=now) for inc in fresh]
    replaced.restore(rows)
    grouping = await _load_grouping(conn, rows, settings, earliest=fresh[0].event.item.occurred_at)
    for inc, row in zip(fresh, rows, strict=True):
        _place(inc, row, grouping, settings, result, replaced, now=now)
    await _persist(conn, rows, grouping, settings, now=now)
    await _emit(conn, grouping, settings, result, replaced, now=now)
    touched = {i: grouping.by_id[i].theme for i in grouping.touched}
    return touched, {row["id"]: row["issue_id"] for row in rows}


async def _load_grouping(
    conn: AsyncConnection,
    rows: list[FeedbackRow],
    settings: PrioritizeSettings,
    *,
    earliest: datetime,
) -> Grouping:
    """Loads the issues the batch's complaints may join and their customers among the batch's."""
    themes = {row["theme"] for row in rows if row["is_complaint"]}
    candidates = await _load_candidates(
        conn,
        themes,
        earliest - timedelta(days=settings.window_days),
        earliest - timedelta(days=settings.regression_window_days),
    )
    known_ids = [c.id for cs in candidates.values() for c in cs]
    customers = await _load_customers(conn, known_ids, {row["customer_id"] for row in rows})
    return Grouping(candidates=candidates, customers=customers)


def _place(
    inc: Incoming,
    row: FeedbackRow,
    grouping: Grouping,
    settings: PrioritizeSettings,
    result: BatchResult,
    replaced: reenrich.Replaced,
    *,
    now: datetime,
) -> None:
    """Counts one item and, if a complaint, joins it to the best issue or opens one (pure)."""
    counts = grouping.day_counts[(row["theme"], evidence.day_of(row["occurred_at"]))]
    counts[0] += 1
    refs = [str(r) for r in getattr(inc.event.item, "order_refs", None) or []]
    if not row["is_complaint"]:
        grouping.others.append((row, inc.correlation_id, replaced.revision(row["id"]), refs))
        return
    counts[1] += 1
    vector = to_vector(inc.event.enrichment.embedding)
    direction = direction_of(row["enrichment"]["themes"], row["theme"])
    match = best_match(
        vector,
        grouping.candidates[row["theme"]],
        at=row["occurred_at"],
        threshold=settings.similarity_threshold,
        window=timedelta(days=settings.window_days),
        regression_window=timedelta(days=settings.regression_window_days),
        direction=direction,
    )
    if match is None:
        match = _open_issue(row, vector, grouping, replaced, now=now)
        result.issues_opened += 1
    issue = grouping.issues[match.id]
    row["issue_id"] = match.id
    key = (match.id, row["customer_id"])
    seen = grouping.customers.get(key)
    if seen is not None and (
        similarity(vector, to_vector(seen.get("last_embedding"))) >= settings.duplicate_similarity
    ):
        row["duplicate_of"] = seen["last_feedback_id"]
    else:
        evidence.add_report(issue["stats"], signals_of(inc.event))
        evidence.add_direction(issue["stats"], direction)
        match.direction = evidence.direction(issue["stats"])
        match.absorb(vector)
        issue["feedback_count"] += 1
    _count_customer(row, issue, grouping, key)
    issue["last_seen"] = match.last_seen = max(match.last_seen, row["occurred_at"])
    grouping.touched[match.id].add("membership")
    _watch_regression(issue, row, settings, grouping.touched, result, now=now)
    match.status = issue["status"]
    grouping.linked.append((row, match.id, inc.correlation_id))
    grouping.complaints.append((row, inc.correlation_id, replaced.revision(row["id"]), refs))


def _open_issue(
    row: FeedbackRow,
    vector: Vector,
    grouping: Grouping,
    replaced: reenrich.Replaced,
    *,
    now: datetime,
) -> Candidate:
    """Opens a new issue around one complaint (pure: saved with the batch)."""
    # A re-analysed item may open an issue again: its id must differ from the first.
    revision = replaced.revision(row["id"])
    at = row["occurred_at"]
    issue = new_issue(
        issue_id=deterministic_id("issue", row["id"], *([revision] if revision else [])),
        theme=row["theme"],
        title=_title(row),
        at=at,
        now=now,
    )
    candidate = Candidate(
        id=issue["id"],
        theme=row["theme"],
        status="new",
        centroid=vector,
        members=0,
        last_seen=at,
        row=issue,
        new=True,
    )
    grouping.candidates[row["theme"]].append(candidate)
    grouping.add(candidate)
    grouping.touched[candidate.id].add("created")
    return candidate


def _count_customer(
    row: FeedbackRow, issue: IssueRow, grouping: Grouping, key: tuple[str, str]
) -> None:
    """Counts the item's customer on its issue: once as distinct, each time as a report."""
    seen = grouping.customers.get(key)
    if seen is None:
        seen = {
            "issue_id": key[0],
            "customer_id": row["customer_id"],
            "reports": 0,
            "first_at": row["occurred_at"],
        }
        grouping.customers[key] = grouping.new_customers[key] = seen
        issue["distinct_customers"] += 1
        evidence.add_customer(issue["stats"], tier=row["tier"], arr=row["arr"])
    seen["reports"] += 1
    seen["last_feedback_id"], seen["last_embedding"] = row["id"], row["embedding"]
    grouping.dirty.add(key)


async def _persist(
    conn: AsyncConnection,
    rows: list[FeedbackRow],
    grouping: Grouping,
    settings: PrioritizeSettings,
    *,
    now: datetime,
) -> None:
    """Writes the items, theme volumes, rescored issues, customers and status history."""
    await conn.execute(insert(feedback_t), rows)
    await insert_ignoring_conflicts(conn, inbox_t, inbox_rows(grouping.others, now=now))
    await evidence.bump_theme_days(conn, grouping.day_counts)
    themes = {grouping.by_id[i].theme for i in grouping.touched}
    volumes = await load_volumes(conn, themes, settings, now)
    history: list[HistoryRow] = []
    for issue_id, changes in grouping.touched.items():
        candidate, issue = grouping.by_id[issue_id], grouping.issues[issue_id]
        issue["centroid"] = candidate.centroid.astype("float32").tobytes()
        issue["stats"]["vectors"] = candidate.members
        issue["stats"]["vector_norm"] = candidate.norm
        changes.update(rescore(issue, volumes, settings, now=now))
        if candidate.new:
            history.append(history_row(issue_id, "new", None, by="prioritize", now=now))
        await persist_issue(conn=conn, issue=issue, now=now, created=candidate.new)
    await insert_ignoring_conflicts(
        conn, inbox_t, incident_rows(grouping.complaints, grouping.issues, now=now)
    )
    history += [
        history_row(issue_id, "new", "resolved", by="regression-alert", now=now)
        for issue_id, changes in grouping.touched.items()
        if "reopened" in changes
    ]
    await _save_customers(conn, grouping.customers, grouping.new_customers, grouping.dirty)
    if history:
        await conn.execute(insert(history_t), history)


async def _emit(
    conn: AsyncConnection,
    grouping: Grouping,
    settings: PrioritizeSettings,
    result: BatchResult,
    replaced: reenrich.Replaced,
    *,
    now: datetime,
) -> None:
    """Writes a feedback.prioritized per item (complaints placed, praise, questions, remarks)
    and an issue.updated per touched issue."""
    prefix = settings.kafka_topic_prefix
    events = [
        feedback_prioritized_row(
            row,
            grouping.issues[issue_id],
            correlation_id=correlation_id,
            prefix=prefix,
            now=now,
            revision=replaced.revision(row["id"]),
        )
        for row, issue_id, correlation_id in grouping.linked
    ]
    result.linked += len(events)
    events += [
        kind_prioritized_row(
            row,
            correlation_id=correlation_id,
            prefix=prefix,
            now=now,
            revision=revision,
        )
        for row, correlation_id, revision, _ in grouping.others
    ]
    events += [
        issue_updated_row(grouping.issues[issue_id], sorted(changes), prefix=prefix, now=now)
        for issue_id, changes in grouping.touched.items()
    ]
    await outbox.write(conn, events)


def _title(row: FeedbackRow) -> str:
    text = " ".join(row["text"].split())
    snippet = text[:120] + ("..." if len(text) > 120 else "")
    return f"{row['theme']}: {snippet}" if snippet else f"{row['theme']} complaints"


def _watch_regression(
    issue: IssueRow,
    row: FeedbackRow,
    settings: PrioritizeSettings,
    touched: dict[str, set[str]],
    result: BatchResult,
    *,
    now: datetime,
) -> None:
    """Reopens a resolved issue once enough customers report it again after the resolution.

    Enough: at least `regression_min_customers`, and at least `regression_min_share` of the
    issue's distinct customers, so a small residue after a fix that reached many does not reopen.
    """
    if issue["status"] != "resolved" or issue["resolved_at"] is None:
        return
    if row["occurred_at"] <= issue["resolved_at"] or row["duplicate_of"]:
        return
    returning = issue["stats"].setdefault("returning", [])
    if row["customer_id"] not in returning:
        returning.append(row["customer_id"])
    needed = max(
        settings.regression_min_customers,
        math.ceil(settings.regression_min_share * issue["distinct_customers"]),
    )
    if len(returning) >= needed:
        issue["status"], issue["resolved_at"] = "new", None
        issue["stats"]["returning"] = []
        touched[issue["id"]].update({"status", "reopened"})
        result.reopened.append(issue["id"])


async def _save_customers(
    conn: AsyncConnection,
    customers: dict[tuple[str, str], CustomerRow],
    new: dict[tuple[str, str], CustomerRow],
    dirty: set[tuple[str, str]],
) -> None:
    if new:
        await conn.execute(insert(customer_t), list(new.values()))
    for key in dirty - set(new):
        seen = customers[key]
        await conn.execute(
            update(customer_t)
            .where(customer_t.c.issue_id == key[0], customer_t.c.customer_id == key[1])
            .values(
                reports=seen["reports"],
                last_feedback_id=seen["last_feedback_id"],
                last_embedding=seen["last_embedding"],
            )
        )
