"""Merging issues of one problem that the arrival order split apart, as each batch ends.

Assignment is online: a complaint is compared with the issues as they stand when it arrives.
While an issue is young its centroid is one or two texts, and paraphrases of one complaint sit
only ~0.5 apart in embedding space (MODEL.md), so which complaints open issues of their own
depends on how the records fall into batches. Offering each young issue to the larger issues of
its theme once the batch is stored removes that dependence: a young issue whose centroid a larger
issue would accept as a member (`similarity_threshold`) joins it, as if it had arrived later;
two issues past the pattern size merge only when their centroids are nearly one
(`merge_similarity`), so distinct problems of one theme stay apart.
"""

from datetime import datetime, timedelta
from typing import Any

from feedloop.prioritize.grouping import OPEN, similarity, to_vector
from feedloop.prioritize.issues.regroup import merge_issues
from feedloop.prioritize.issues.store import history_t, issue_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

SPLIT_BY = "split"


def rank(issue: dict[str, Any]) -> tuple[int, int, datetime, str]:
    """Orders issues from the one that absorbs to the one absorbed: larger, older, then by id."""
    return (
        -issue["distinct_customers"],
        -issue["feedback_count"],
        issue["first_seen"],
        issue["id"],
    )


def best_merge(
    issues: list[dict[str, Any]], touched: set[str], settings: PrioritizeSettings
) -> tuple[str, str] | None:
    """Returns (source, target) of the most similar pair that should merge, or None."""
    ordered = sorted(issues, key=rank)
    best: tuple[float, str, str] | None = None
    for i, target in enumerate(ordered):
        for source in ordered[i + 1 :]:
            if source["id"] not in touched and target["id"] not in touched:
                continue
            # Someone already looks after the source: only people merge it.
            if source["status"] != "new" or source["owner"]:
                continue
            young = source["distinct_customers"] < settings.pattern_min_customers
            threshold = settings.similarity_threshold if young else settings.merge_similarity
            sim = similarity(to_vector(source["centroid"]), to_vector(target["centroid"]))
            if sim >= threshold and (best is None or sim > best[0]):
                best = (sim, source["id"], target["id"])
    return None if best is None else (best[1], best[2])


async def consolidate(
    conn: AsyncConnection,
    *,
    themes: set[str],
    touched: set[str],
    since: datetime,
    settings: PrioritizeSettings,
    now: datetime,
) -> list[tuple[str, str]]:
    """Merges open issues of the themes that one problem split; returns (source, target) pairs.

    Callers hold the themes' locks. Issues split off by hand are never merged automatically.
    """
    if not settings.auto_merge or not touched:
        return []
    split = select(history_t.c.issue_id).where(history_t.c.changed_by == SPLIT_BY)
    rows = await conn.execute(
        select(issue_t).where(
            issue_t.c.theme.in_(themes),
            issue_t.c.merged_into.is_(None),
            issue_t.c.status.in_(OPEN),
            issue_t.c.last_seen >= since - timedelta(days=settings.window_days),
            issue_t.c.id.not_in(split),
        )
    )
    by_theme: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_theme.setdefault(row.theme, []).append(dict(row._mapping))
    merged: list[tuple[str, str]] = []
    touched = set(touched)
    for theme in sorted(by_theme):
        issues = by_theme[theme]
        while (pair := best_merge(issues, touched, settings)) is not None:
            source_id, into_id = pair
            target = await merge_issues(
                conn=conn, source_id=source_id, into_id=into_id, settings=settings, now=now
            )
            issues = [i for i in issues if i["id"] not in pair] + [target]
            touched.add(into_id)
            merged.append(pair)
    return merged
