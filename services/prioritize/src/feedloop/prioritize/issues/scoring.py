"""Recomputing an issue's priority, severity and pattern flag from its evidence."""

from datetime import datetime, timedelta

from feedloop.prioritize import priority
from feedloop.prioritize.issues.evidence import Volumes, evidence_of
from feedloop.prioritize.rows import IssueRow
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy.ext.asyncio import AsyncConnection


def effort_of(issue: IssueRow, settings: PrioritizeSettings) -> tuple[float, str]:
    """Returns the effort of an issue and where it came from."""
    if issue["effort"]:
        return float(issue["effort"]), "set on the issue"
    if issue["theme"] in settings.effort_by_theme:
        return settings.effort_by_theme[issue["theme"]], "from the taxonomy"
    return settings.default_effort, "default"


def rescore(
    issue: IssueRow, volumes: Volumes, settings: PrioritizeSettings, *, now: datetime
) -> list[str]:
    """Updates priority, severity and pattern flag of an issue row; returns what changed."""
    effort, source = effort_of(issue, settings)
    evidence = evidence_of(
        issue,
        volumes,
        now=now,
        baseline_days=settings.baseline_days,
        effort=effort,
        effort_source=source,
    )
    is_pattern = issue["distinct_customers"] >= settings.pattern_min_customers
    result = priority.score(evidence)
    severity = priority.severity_label(evidence, is_pattern=is_pattern)
    changes = []
    if result.score != issue["priority_score"]:
        changes.append("priority")
    if is_pattern != issue["is_pattern"]:
        changes.append("is_pattern")
    if severity != issue["severity"]:
        changes.append("severity")
    issue["priority"], issue["priority_score"] = result, result.score
    issue["severity"], issue["is_pattern"] = severity, is_pattern
    return changes


async def load_volumes(
    conn: AsyncConnection, themes: set[str], settings: PrioritizeSettings, now: datetime
) -> Volumes:
    """Reads the theme volumes needed to score issues of these themes."""
    return await Volumes.load(
        conn,
        themes=themes,
        now=now,
        window=timedelta(days=settings.window_days),
        baseline_days=settings.baseline_days,
    )
