"""Merging issues of one problem that the arrival order split apart, as each batch ends.

Assignment is online: a complaint is compared with the issues as they stand when it arrives.
While an issue is young its centroid is one or two texts, and paraphrases of one complaint sit
only ~0.5 apart in embedding space (MODEL.md), so which complaints open issues of their own
depends on how the records fall into batches. Offering each young issue to the larger issues of
its theme once the batch is stored removes that dependence: a young issue whose centroid a larger
issue would accept as a member (`similarity_threshold`) joins it, as if it had arrived later;
two issues past the pattern size merge when their centroids are nearly one
(`merge_similarity`) or when their members are as similar across the two issues as within them
(`merge_cohesion`). Centroid similarity alone cannot tell the cases apart: sub-clusters of one
problem sit 0.65-0.8 apart and distinct problems of one theme ("sleeves too long" vs "runs
small") ~0.72. What differs is the ratio: the mean cross-similarity of one problem's halves is
about its within-issue similarity, that of two problems clearly lower. Both means come from
each issue's running sum of unit vectors (its count and length), so no member is read.
"""

from datetime import datetime, timedelta

from feedloop.prioritize.grouping import OPEN, cohesion, cross_similarity, similarity, to_vector
from feedloop.prioritize.issues import evidence
from feedloop.prioritize.issues.evidence import vector_sum
from feedloop.prioritize.issues.regroup import merge_issues
from feedloop.prioritize.issues.store import issue_of
from feedloop.prioritize.models import history_t, issue_t
from feedloop.prioritize.rows import IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

SPLIT_BY = "split"


def rank(issue: IssueRow) -> tuple[int, int, datetime, str]:
    """Orders issues from the one that absorbs to the one absorbed: larger, older, then by id."""
    return (
        -issue["distinct_customers"],
        -issue["feedback_count"],
        issue["first_seen"],
        issue["id"],
    )


def cohesion_ratio(a: IssueRow, b: IssueRow) -> float:
    """Mean similarity across two issues over the mean within them (0 when unknown)."""
    (na, norm_a), (nb, norm_b) = vector_sum(a), vector_sum(b)
    within_a, within_b = cohesion(na, norm_a), cohesion(nb, norm_b)
    if within_a is None or within_b is None:
        return 0.0
    pairs_a, pairs_b = na * (na - 1), nb * (nb - 1)
    within = (pairs_a * within_a + pairs_b * within_b) / (pairs_a + pairs_b)
    if within <= 0:
        return 0.0
    ca, cb = to_vector(a["centroid"]), to_vector(b["centroid"])
    return cross_similarity(ca, na, norm_a, cb, nb, norm_b) / within


def best_merge(
    issues: list[IssueRow], touched: set[str], settings: PrioritizeSettings
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
            if evidence.opposite(
                evidence.direction(source["stats"]), evidence.direction(target["stats"])
            ):
                continue
            young = source["distinct_customers"] < settings.pattern_min_customers
            sim = similarity(to_vector(source["centroid"]), to_vector(target["centroid"]))
            if young:
                merge = sim >= settings.similarity_threshold
            else:
                merge = sim >= settings.merge_similarity or (
                    cohesion_ratio(source, target) >= settings.merge_cohesion
                )
            if merge and (best is None or sim > best[0]):
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
    by_theme: dict[str, list[IssueRow]] = {}
    for row in rows:
        by_theme.setdefault(row.theme, []).append(issue_of(row))
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
