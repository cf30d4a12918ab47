"""Feedback routes: the filtered listing (keyset pages), one item with its notes, a new note."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from feedloop.common.events import utcnow
from feedloop.common.feedback import Timestamp
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.prioritize.deps import EngineDep, ReaderDep, TransactionDep, WriterDep
from feedloop.prioritize.feedback import notes, service
from feedloop.prioritize.kpis.api import PRINTABLE, FiltersDep
from pydantic import BaseModel, ConfigDict, StringConstraints

FeedbackId = Annotated[str, Path(max_length=64, pattern=PRINTABLE)]
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Text without control characters but tab and line breaks."""


class NoteIn(BaseModel):
    """A note to keep on a feedback item."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000, pattern=TEXT)
    ]
    author: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE),
    ]


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


@router.get(
    "/{feedback_id}",
    summary="One feedback item (text redacted) with its internal notes",
    responses=problem_responses(404),
)
async def get_feedback(
    feedback_id: FeedbackId, engine: EngineDep, _client: ReaderDep
) -> dict[str, Any]:
    async with engine.connect() as conn:
        return dict(await notes.detail(conn=conn, feedback_id=feedback_id))


@router.post(
    "/{feedback_id}/notes",
    status_code=201,
    summary="Keep an internal note on a feedback item (never sent to the customer)",
    responses=problem_responses(404, 409),
)
async def add_note(
    feedback_id: FeedbackId, note: NoteIn, conn: TransactionDep, client: WriterDep
) -> dict[str, Any]:
    return dict(
        await notes.add(
            conn=conn,
            feedback_id=feedback_id,
            author=note.author,
            client_id=client.client_id,
            text=note.text,
            now=utcnow(),
        )
    )
