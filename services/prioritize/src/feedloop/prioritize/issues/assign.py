"""Storing a batch of enriched feedback and assigning complaints to issues, in one transaction."""

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.db import is_postgres
from feedloop.common.events import FeedbackEnriched, FeedbackRef, Priority, deterministic_id
from feedloop.common.feedback import survey_scores
from feedloop.prioritize import outbox
from feedloop.prioritize.grouping import Candidate, best_match, similarity, to_vector
from feedloop.prioritize.issues import evidence, reenrich
from feedloop.prioritize.issues.consolidate import consolidate
from feedloop.prioritize.issues.payloads import feedback_prioritized_row, issue_updated_row
from feedloop.prioritize.issues.refresh import refresh_open
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import history_row, new_issue
from feedloop.prioritize.models import customer_t, feedback_t, history_t, issue_t
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


def feedback_row(inc: Incoming, *, now: datetime) -> dict[str, Any]:
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
        "is_complaint": is_complaint(ev, s),
        "nps": s.nps,
        "csat": s.csat,
        "ces": s.ces,
        "rating": s.rating,
        "text": item.text,
        "enrichment": ev.enrichment.model_dump(mode="json", exclude={"embedding"}),
        "ref": ref.model_dump(mode="json"),
        "embedding": to_vector(ev.enrichment.embedding).tobytes() or None,
        "occurred_at": item.occurred_at,
        "received_at": ev.received_at,
        "stored_at": now,
        "enriched_at": inc.enriched_at,
        "closed_at": None,
        "time_to_close_s": None,
        "close_outcome": None,
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
        issue = dict(row._mapping)
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
) -> dict[tuple[str, str], dict[str, Any]]:
    if not issue_ids:
        return {}
    rows = await conn.execute(
        select(customer_t).where(
            and_(customer_t.c.issue_id.in_(issue_ids), customer_t.c.customer_id.in_(customers))
        )
    )
    return {(r.issue_id, r.customer_id): dict(r._mapping) for r in rows}


async def store_batch(
    conn: AsyncConnection, batch: list[Incoming], settings: PrioritizeSettings, *, now: datetime
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
    await refresh_open(conn, settings, now=now)
    result.stored = len(fresh) + replaced.in_place
    result.reenriched = len(triage.replacing)
    if result.reenriched:
        log.info(
            "re-analysed feedback replaced",
            extra={"reenriched": result.reenriched, "moved": len(replaced.moving)},
        )
    return result


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
    window = timedelta(days=settings.window_days)
    regression_window = timedelta(days=settings.regression_window_days)
    earliest = fresh[0].event.item.occurred_at
    rows = [feedback_row(inc, now=now) for inc in fresh]
    replaced.restore(rows)
    themes = {row["theme"] for row in rows if row["is_complaint"]}
    candidates = await _load_candidates(
        conn, themes, earliest - window, earliest - regression_window
    )
    known_ids = [c.id for cs in candidates.values() for c in cs]
    customers = await _load_customers(conn, known_ids, {row["customer_id"] for row in rows})
    day_counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    touched: dict[str, set[str]] = defaultdict(set)
    new_customers: dict[tuple[str, str], dict[str, Any]] = {}
    dirty: set[tuple[str, str]] = set()
    linked: list[tuple[dict[str, Any], Candidate, str]] = []
    by_id: dict[str, Candidate] = {c.id: c for cs in candidates.values() for c in cs}

    for inc, row in zip(fresh, rows, strict=True):
        counts = day_counts[(row["theme"], evidence.day_of(row["occurred_at"]))]
        counts[0] += 1
        if not row["is_complaint"]:
            continue
        counts[1] += 1
        vector = to_vector(inc.event.enrichment.embedding)
        direction = direction_of(row["enrichment"]["themes"], row["theme"])
        at = row["occurred_at"]
        match = best_match(
            vector,
            candidates[row["theme"]],
            at=at,
            threshold=settings.similarity_threshold,
            window=window,
            regression_window=regression_window,
            direction=direction,
        )
        if match is None:
            # A re-analysed item may open an issue again: its id must differ from the first.
            revision = replaced.revision(row["id"])
            issue = new_issue(
                issue_id=deterministic_id("issue", row["id"], *([revision] if revision else [])),
                theme=row["theme"],
                title=_title(row),
                at=at,
                now=now,
            )
            match = Candidate(
                id=issue["id"],
                theme=row["theme"],
                status="new",
                centroid=vector,
                members=0,
                last_seen=at,
                row=issue,
                new=True,
            )
            candidates[row["theme"]].append(match)
            by_id[match.id] = match
            result.issues_opened += 1
            touched[match.id].add("created")
        issue = match.row
        row["issue_id"] = match.id
        key = (match.id, row["customer_id"])
        seen = customers.get(key)
        signals = signals_of(inc.event)
        if seen is not None and (
            similarity(vector, to_vector(seen["last_embedding"])) >= settings.duplicate_similarity
        ):
            row["duplicate_of"] = seen["last_feedback_id"]
        else:
            evidence.add_report(issue["stats"], signals)
            evidence.add_direction(issue["stats"], direction)
            match.direction = evidence.direction(issue["stats"])
            match.absorb(vector)
            issue["feedback_count"] += 1
        if seen is None:
            seen = {
                "issue_id": match.id,
                "customer_id": row["customer_id"],
                "reports": 0,
                "first_at": at,
            }
            customers[key] = new_customers[key] = seen
            issue["distinct_customers"] += 1
            evidence.add_customer(issue["stats"], tier=row["tier"], arr=row["arr"])
        seen.update(
            reports=seen["reports"] + 1,
            last_feedback_id=row["id"],
            last_embedding=row["embedding"],
        )
        dirty.add(key)
        issue["last_seen"] = match.last_seen = max(match.last_seen, at)
        touched[match.id].add("membership")
        _watch_regression(issue, row, settings, touched, result, now=now)
        match.status = issue["status"]
        linked.append((row, match, inc.correlation_id))

    await conn.execute(insert(feedback_t), rows)
    await evidence.bump_theme_days(conn, day_counts)
    volumes = await load_volumes(conn, {by_id[i].theme for i in touched}, settings, now)
    events: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for issue_id, changes in touched.items():
        c = by_id[issue_id]
        issue = c.row
        issue["centroid"] = c.centroid.astype("float32").tobytes()
        issue["stats"].update(vectors=c.members, vector_norm=c.norm)
        changes.update(rescore(issue, volumes, settings, now=now))
        issue["version"] += 1
        issue["updated_at"] = now
        if c.new:
            history.append(history_row(issue_id, "new", None, by="prioritize", now=now))
            await conn.execute(insert(issue_t), [issue])
        else:
            await conn.execute(update(issue_t).where(issue_t.c.id == issue_id).values(**issue))
    priorities = {i: Priority.model_validate(by_id[i].row["priority"]) for i in touched}
    for row, c, correlation_id in linked:
        events.append(
            feedback_prioritized_row(
                row,
                c.row,
                correlation_id=correlation_id,
                prefix=settings.kafka_topic_prefix,
                now=now,
                priority=priorities[c.id],
                revision=replaced.revision(row["id"]),
            )
        )
        result.linked += 1
    for issue_id, changes in touched.items():
        events.append(
            issue_updated_row(
                by_id[issue_id].row, sorted(changes), prefix=settings.kafka_topic_prefix, now=now
            )
        )
        if "reopened" in changes:
            history.append(history_row(issue_id, "new", "resolved", by="regression-alert", now=now))
    await _save_customers(conn, customers, new_customers, dirty)
    if history:
        await conn.execute(insert(history_t), history)
    await outbox.write(conn, events)
    return {i: by_id[i].theme for i in touched}, {row["id"]: row["issue_id"] for row in rows}


def _title(row: dict[str, Any]) -> str:
    text = " ".join(row["text"].split())
    snippet = text[:120] + ("..." if len(text) > 120 else "")
    return f"{row['theme']}: {snippet}" if snippet else f"{row['theme']} complaints"


def _watch_regression(
    issue: dict[str, Any],
    row: dict[str, Any],
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
        issue.update(status="new", resolved_at=None)
        issue["stats"]["returning"] = []
        touched[issue["id"]].update({"status", "reopened"})
        result.reopened.append(issue["id"])


async def _save_customers(
    conn: AsyncConnection,
    customers: dict[tuple[str, str], dict[str, Any]],
    new: dict[tuple[str, str], dict[str, Any]],
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
