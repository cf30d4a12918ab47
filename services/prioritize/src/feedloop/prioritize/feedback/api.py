"""Routes of the feedback listing: GET /v1/feedback (redacted texts, filtered, keyset pages)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from feedloop.common.feedback import Timestamp
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.prioritize.deps import EngineDep, ReaderDep
from feedloop.prioritize.feedback import service
from feedloop.prioritize.kpis.api import PRINTABLE, FiltersDep

router = APIRouter(
    prefix="/v1/feedback", tags=["feedback"], responses=problem_responses(*AUTHENTICATED, 422)
)


@router.get("", summary="Stored feedback (texts redacted), newest first, filtered, by pages")
async def list_feedback(
    engine: EngineDep,
    _client: ReaderDep,
    filters: FiltersDep,
    since: Annotated[Timestamp | None, Query(description="Occurred at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="Occurred before")] = None,
    issue_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT, description="Items per page")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=600, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        items, next_cursor = await service.list_feedback(
            conn=conn,
            filters=filters.as_filters(),
            since=since,
            until=until,
            issue_id=issue_id,
            limit=limit,
            cursor=cursor,
        )
    return {"items": items, "next_cursor": next_cursor, "limit": limit}
