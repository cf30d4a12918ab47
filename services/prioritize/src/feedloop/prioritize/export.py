"""A customer's data as prioritize holds it, for their data export (scope customers:export).

notify's `GET /v1/customers/{id}/export` asks this route and joins its own part; the answer
is what is stored: the redacted text, sentiment, themes and scores of each feedback item, and
the issues they are linked to. After an erasure the rows carry a pseudonym, so this answers
an empty list for the erased id.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.prioritize.deps import EngineDep
from feedloop.prioritize.models import feedback_t, issue_t
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

SCOPE_EXPORT = "customers:export"
MAX_ITEMS = 10_000
ExporterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_EXPORT))]


class ExportedFeedback(BaseModel):
    """One feedback item as stored (text as enrich redacted it)."""

    feedback_id: str
    channel: str
    occurred_at: datetime
    received_at: datetime
    text: str
    sentiment: str
    sentiment_score: float
    themes: list[str]
    scores: dict[str, Any]
    issue_id: str | None


class ExportedIssue(BaseModel):
    """An issue one of the customer's items is linked to."""

    issue_id: str
    title: str
    status: str
    resolution_message: str | None


class PrioritizeExport(BaseModel):
    """What prioritize holds of one customer."""

    customer_id: str
    feedback: list[ExportedFeedback]
    issues: list[ExportedIssue]


router = APIRouter(prefix="/v1", tags=["data rights"], responses=problem_responses(*AUTHENTICATED))


@router.get(
    "/customers/{customer_id}/data",
    response_model=PrioritizeExport,
    summary="What prioritize holds of a customer (for their data export)",
)
async def customer_data(
    customer_id: Annotated[str, Path(min_length=1, max_length=200)],
    engine: EngineDep,
    _client: ExporterDep,
) -> PrioritizeExport:
    """Returns the customer's stored feedback and the issues it is linked to."""
    async with engine.connect() as conn:
        return await export(conn=conn, customer_id=customer_id)


async def export(*, conn: AsyncConnection, customer_id: str) -> PrioritizeExport:
    """Reads a customer's feedback rows and their issues."""
    rows = (
        await conn.execute(
            select(feedback_t)
            .where(feedback_t.c.customer_id == customer_id)
            .order_by(feedback_t.c.occurred_at)
            .limit(MAX_ITEMS)
        )
    ).all()
    feedback = [
        ExportedFeedback(
            feedback_id=r.id,
            channel=r.channel,
            occurred_at=r.occurred_at,
            received_at=r.received_at,
            text=r.text,
            sentiment=r.sentiment_label,
            sentiment_score=r.sentiment_score,
            themes=[t["theme"] for t in (r.enrichment or {}).get("themes") or []],
            scores={k: v for k, v in (("nps", r.nps), ("csat", r.csat), ("ces", r.ces)) if v},
            issue_id=r.issue_id,
        )
        for r in rows
    ]
    issue_ids = sorted({f.issue_id for f in feedback if f.issue_id})
    issues = (
        (
            await conn.execute(
                select(
                    issue_t.c.id, issue_t.c.title, issue_t.c.status, issue_t.c.resolution_message
                ).where(issue_t.c.id.in_(issue_ids))
            )
        ).all()
        if issue_ids
        else []
    )
    return PrioritizeExport(
        customer_id=customer_id,
        feedback=feedback,
        issues=[
            ExportedIssue(
                issue_id=i.id,
                title=i.title,
                status=i.status,
                resolution_message=i.resolution_message,
            )
            for i in issues
        ],
    )
