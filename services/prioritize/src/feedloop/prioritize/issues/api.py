"""Routes of the issues API: list, detail, patch, merge, split."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from feedloop.common.events import IssueStatus, utcnow
from feedloop.common.feedback import Timestamp
from feedloop.common.problems import AUTHENTICATED, Problem, problem_responses
from feedloop.common.web import Limit, Offset
from feedloop.prioritize.audit_log import audit_action, issue_action
from feedloop.prioritize.deps import (
    EngineDep,
    ReaderDep,
    SettingsDep,
    TransactionDep,
    WriterDep,
)
from feedloop.prioritize.issues import regroup, service
from feedloop.prioritize.issues.followup import followup_summary
from feedloop.prioritize.issues.schemas import (
    FollowupSummary,
    IssueDetail,
    IssueList,
    IssueMerge,
    IssuePatch,
    IssueRead,
    IssueSort,
    IssueSplit,
)
from feedloop.prioritize.issues.service import IssueDetailRow
from feedloop.prioritize.kpis import rollup
from feedloop.prioritize.kpis.api import FilterValues
from feedloop.prioritize.rows import IssueRow
from feedloop.prioritize.settings import SCOPE_RESOLVE

router = APIRouter(
    prefix="/v1/issues", tags=["issues"], responses=problem_responses(*AUTHENTICATED)
)


@router.get("", response_model=IssueList, summary="List, filter and sort issues")
async def list_issues(
    engine: EngineDep,
    _client: ReaderDep,
    status: Annotated[list[IssueStatus] | None, Query()] = None,
    theme: str | None = None,
    pattern: Annotated[bool | None, Query(description="true: patterns, false: one-offs")] = None,
    min_priority: float | None = None,
    since: Annotated[Timestamp | None, Query(description="Last reported at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="First reported before")] = None,
    include_merged: bool = False,
    segment: FilterValues = None,
    tier: FilterValues = None,
    channel: FilterValues = None,
    language: FilterValues = None,
    sort: IssueSort = "-priority",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    # segment, tier, channel, language: issues with feedback of one of the values (as in KPIs).
    by = {"segment": segment, "tier": tier, "channel": channel, "language": language}
    wanted = {k: v for k, v in by.items() if v}
    also = [rollup.issues_with_feedback(engine.dialect.name, wanted)] if wanted else []
    async with engine.connect() as conn:
        items, total = await service.list_issues(
            conn=conn,
            status=list(status) if status else None,
            theme=theme,
            pattern=pattern,
            min_priority=min_priority,
            since=since,
            until=until,
            include_merged=include_merged,
            sort=sort,
            limit=limit,
            offset=offset,
            also=also,
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/{issue_id}",
    response_model=IssueDetail,
    summary="An issue with evidence",
    responses=problem_responses(404),
)
async def get_issue(issue_id: str, engine: EngineDep, _client: ReaderDep) -> IssueDetailRow:
    async with engine.connect() as conn:
        return await service.get_issue(conn=conn, issue_id=issue_id)


@router.get(
    "/{issue_id}/followup",
    response_model=FollowupSummary,
    summary='Answers to "Is it fixed for you?" (the confirmation rate)',
    responses=problem_responses(404),
)
async def get_followup(issue_id: str, engine: EngineDep, _client: ReaderDep) -> dict[str, Any]:
    async with engine.connect() as conn:
        await service.get_issue(conn=conn, issue_id=issue_id)  # 404 when there is none
        return await followup_summary(conn=conn, issue_id=issue_id)


@router.patch(
    "/{issue_id}",
    response_model=IssueRead,
    summary="Set owner, status, action (resolving needs the issues:resolve scope too)",
    responses=problem_responses(404, 409),
)
async def patch_issue(
    issue_id: str,
    patch: IssuePatch,
    settings: SettingsDep,
    client: WriterDep,
    conn: TransactionDep,
) -> IssueRow:
    if patch.status == "resolved" and SCOPE_RESOLVE not in client.scopes:
        # Resolving mails every linked customer: ordinary writers may not trigger that.
        raise Problem(
            403,
            "Forbidden",
            f"client {client.client_id!r} lacks the scope {SCOPE_RESOLVE!r} to resolve",
            field="status",
            required_scope=SCOPE_RESOLVE,
        )
    issue = await service.patch_issue(
        conn=conn,
        issue_id=issue_id,
        patch=patch,
        by=client.client_id,
        settings=settings,
        now=utcnow(),
    )
    await audit_action(
        conn,
        settings=settings,
        actor=client.client_id,
        action=issue_action(patch.status),
        target=("issue", issue_id),
        detail=patch.model_dump(mode="json", exclude_unset=True),
    )
    return issue


@router.post(
    "/{issue_id}/merge",
    response_model=IssueRead,
    summary="Merge into another issue",
    responses=problem_responses(404, 409),
)
async def merge_issue(
    issue_id: str,
    body: IssueMerge,
    settings: SettingsDep,
    client: WriterDep,
    conn: TransactionDep,
) -> IssueRow:
    target = await regroup.merge_issues(
        conn=conn, source_id=issue_id, into_id=body.into, settings=settings, now=utcnow()
    )
    await audit_action(
        conn,
        settings=settings,
        actor=client.client_id,
        action="issue.merged",
        target=("issue", issue_id),
        detail={"into": body.into},
    )
    return target


@router.post(
    "/{issue_id}/split",
    response_model=IssueRead,
    status_code=201,
    summary="Split off feedback",
    responses=problem_responses(404),
)
async def split_issue(
    issue_id: str,
    body: IssueSplit,
    settings: SettingsDep,
    client: WriterDep,
    conn: TransactionDep,
) -> IssueRow:
    new = await regroup.split_issue(
        conn=conn,
        issue_id=issue_id,
        feedback_ids=body.feedback_ids,
        title=body.title,
        settings=settings,
        now=utcnow(),
    )
    await audit_action(
        conn,
        settings=settings,
        actor=client.client_id,
        action="issue.split",
        target=("issue", issue_id),
        detail={"new_issue": new["id"], "feedback": len(body.feedback_ids)},
    )
    return new
