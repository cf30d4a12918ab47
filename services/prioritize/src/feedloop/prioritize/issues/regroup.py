"""Merging and splitting issues: members move, sums are rebuilt, events say so."""

from collections import Counter
from datetime import datetime
from typing import cast

import numpy as np
from feedloop.common.db import lock_keys
from feedloop.common.errors import Conflict, Invalid
from feedloop.common.events import deterministic_id
from feedloop.prioritize import outbox
from feedloop.prioritize.grouping import normalised, to_vector
from feedloop.prioritize.issues import evidence
from feedloop.prioritize.issues.payloads import feedback_prioritized_row
from feedloop.prioritize.issues.scoring import load_volumes, rescore
from feedloop.prioritize.issues.store import (
    history_row,
    lock_issue,
    new_issue,
    save_issue,
)
from feedloop.prioritize.models import customer_t, feedback_t, history_t, issue_t
from feedloop.prioritize.rows import CustomerRow, FeedbackRow, IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from feedloop.prioritize.signals import Signals, direction_of
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def rebuild(conn: AsyncConnection, issue: IssueRow) -> None:
    """Recomputes an issue's sums, counts, centroid and customers from its member feedback."""
    members = (
        await conn.execute(
            select(feedback_t)
            .where(feedback_t.c.issue_id == issue["id"])
            .order_by(feedback_t.c.occurred_at)
        )
    ).all()
    stats = evidence.empty_stats()
    customers: dict[str, CustomerRow] = {}
    vectors = []
    for m in members:
        if m.duplicate_of is None:
            signals = Signals(max(0.0, -m.sentiment_score), m.nps, m.csat, m.ces, m.rating)
            evidence.add_report(stats, signals)
            themes = (m.enrichment or {}).get("themes") or []
            evidence.add_direction(stats, direction_of(themes, issue["theme"]))
            if m.embedding:
                vectors.append(normalised(to_vector(m.embedding)))
        if m.customer_id not in customers:
            evidence.add_customer(stats, tier=m.tier, arr=m.arr)
            customers[m.customer_id] = {
                "issue_id": issue["id"],
                "customer_id": m.customer_id,
                "reports": 0,
                "first_at": m.occurred_at,
            }
        seen = customers[m.customer_id]
        seen["reports"] += 1
        seen["last_feedback_id"], seen["last_embedding"] = m.id, m.embedding
    # Halfway through a re-analysis with a new embedding model, members hold vectors of two
    # sizes; only those of the most common size can be summed (the rest join as re-analysed).
    sizes = Counter(v.size for v in vectors)
    size = max(sizes, key=lambda n: (sizes[n], n)) if sizes else 0
    vectors = [v for v in vectors if v.size == size]
    total = np.sum(vectors, axis=0) if vectors else np.zeros(0, np.float32)
    centroid = normalised(total)
    stats["vectors"], stats["vector_norm"] = len(vectors), float(np.linalg.norm(total))
    issue["stats"], issue["feedback_count"] = stats, stats["reports"]
    issue["distinct_customers"] = len(customers)
    issue["centroid"] = centroid.astype(np.float32).tobytes()
    if members:
        issue["first_seen"] = members[0].occurred_at
        issue["last_seen"] = members[-1].occurred_at
    await conn.execute(delete(customer_t).where(customer_t.c.issue_id == issue["id"]))
    if customers:
        await conn.execute(insert(customer_t), list(customers.values()))


async def _move(
    conn: AsyncConnection,
    feedback_ids: list[str],
    target: IssueRow,
    settings: PrioritizeSettings,
    now: datetime,
) -> None:
    moved = await conn.execute(select(feedback_t).where(feedback_t.c.id.in_(feedback_ids)))
    await outbox.write(
        conn,
        [
            feedback_prioritized_row(
                cast(FeedbackRow, m._mapping),
                target,
                correlation_id=target["id"],
                prefix=settings.kafka_topic_prefix,
                now=now,
            )
            for m in moved
        ],
    )


async def merge_issues(
    *,
    conn: AsyncConnection,
    source_id: str,
    into_id: str,
    settings: PrioritizeSettings,
    now: datetime,
) -> IssueRow:
    """Moves every member of `source` into `into`; the source keeps a pointer to its successor."""
    if source_id == into_id:
        raise Invalid("an issue cannot be merged into itself")
    themes = await conn.scalars(
        select(issue_t.c.theme).where(issue_t.c.id.in_([source_id, into_id]))
    )
    await lock_keys(conn, [f"theme:{t}" for t in themes])
    source = await lock_issue(conn=conn, issue_id=source_id)
    target = await lock_issue(conn=conn, issue_id=into_id)
    for issue in (source, target):
        if issue["merged_into"]:
            raise Conflict(f"issue {issue['id']!r} was already merged")
    ids = list(
        await conn.scalars(select(feedback_t.c.id).where(feedback_t.c.issue_id == source_id))
    )
    await rebuild_after_move(conn, ids, source, target, settings, now)
    source["merged_into"] = into_id
    await save_issue(
        conn=conn,
        issue=source,
        changes=["merged_into", "membership"],
        prefix=settings.kafka_topic_prefix,
        now=now,
    )
    await save_issue(
        conn=conn, issue=target, changes=["membership"], prefix=settings.kafka_topic_prefix, now=now
    )
    return target


async def split_issue(
    *,
    conn: AsyncConnection,
    issue_id: str,
    feedback_ids: list[str],
    title: str | None,
    settings: PrioritizeSettings,
    now: datetime,
) -> IssueRow:
    """Moves the given members of an issue into a new issue; returns the new issue."""
    source = await lock_issue(conn=conn, issue_id=issue_id)
    wanted = sorted(set(feedback_ids))
    members = set(
        await conn.scalars(
            select(feedback_t.c.id).where(
                feedback_t.c.id.in_(wanted), feedback_t.c.issue_id == issue_id
            )
        )
    )
    missing = [fid for fid in wanted if fid not in members]
    if missing:
        raise Invalid(f"not members of issue {issue_id!r}: {missing[:10]}")
    target = new_issue(
        issue_id=deterministic_id("issue-split", issue_id, *wanted),
        theme=source["theme"],
        title=title or f"{source['title'][:280]} (split)",
        at=now,
        now=now,
    )
    await rebuild_after_move(conn, wanted, source, target, settings, now)
    await conn.execute(
        insert(history_t), [history_row(target["id"], "new", None, by="split", now=now)]
    )
    await save_issue(
        conn=conn, issue=source, changes=["membership"], prefix=settings.kafka_topic_prefix, now=now
    )
    await save_issue(
        conn=conn,
        issue=target,
        changes=["created", "membership"],
        prefix=settings.kafka_topic_prefix,
        now=now,
        created=True,
    )
    return target


async def rebuild_after_move(
    conn: AsyncConnection,
    feedback_ids: list[str],
    source: IssueRow,
    target: IssueRow,
    settings: PrioritizeSettings,
    now: datetime,
) -> None:
    """Moves members, rebuilds both issues and rescores them."""
    await conn.execute(
        update(feedback_t)
        .where(feedback_t.c.id.in_(feedback_ids))
        .values(issue_id=target["id"], duplicate_of=None)
    )
    await rebuild(conn, source)
    await rebuild(conn, target)
    volumes = await load_volumes(conn, {source["theme"], target["theme"]}, settings, now)
    rescore(source, volumes, settings, now=now)
    rescore(target, volumes, settings, now=now)
    await _move(conn, feedback_ids, target, settings, now)
