"""Routes of the answer queue: list the questions, read one, answer it."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, Problem, problem_responses
from feedloop.common.web import Limit, Offset
from feedloop.prioritize.deps import EngineDep, ReaderDep, RelayDep, SettingsDep, WriterDep
from feedloop.prioritize.inbox import service
from feedloop.prioritize.inbox.schemas import (
    InboxAnswer,
    InboxItemRead,
    InboxKind,
    InboxList,
    InboxStatus,
)
from feedloop.prioritize.settings import SCOPE_RESOLVE

router = APIRouter(prefix="/v1/inbox", tags=["inbox"], responses=problem_responses(*AUTHENTICATED))


@router.get("", response_model=InboxList, summary="The answer queue, oldest first")
async def list_inbox(
    engine: EngineDep,
    settings: SettingsDep,
    _client: ReaderDep,
    status: Annotated[InboxStatus | None, Query(description="Default: every item")] = None,
    kind: Annotated[InboxKind | None, Query(description="Default: both kinds")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        items, total = await service.list_inbox(
            conn=conn,
            status=status,
            kind=kind,
            limit=limit,
            offset=offset,
            now=utcnow(),
            sla_s=settings.inbox_sla_hours * 3600,
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/{item_id}",
    response_model=InboxItemRead,
    summary="One question",
    responses=problem_responses(404),
)
async def get_item(
    item_id: str, engine: EngineDep, settings: SettingsDep, _client: ReaderDep
) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await service.get_item(
            conn=conn, item_id=item_id, now=utcnow(), sla_s=settings.inbox_sla_hours * 3600
        )


@router.post(
    "/{item_id}/answer",
    response_model=InboxItemRead,
    summary="Answer a question or incident (needs the issues:resolve scope: notify sends it)",
    responses=problem_responses(404, 409),
)
async def answer_item(
    item_id: str,
    body: InboxAnswer,
    engine: EngineDep,
    settings: SettingsDep,
    relay: RelayDep,
    client: WriterDep,
) -> dict[str, Any]:
    if SCOPE_RESOLVE not in client.scopes:
        raise Problem(
            403,
            "Forbidden",
            f"client {client.client_id!r} lacks the scope {SCOPE_RESOLVE!r} to answer",
            required_scope=SCOPE_RESOLVE,
        )
    async with engine.begin() as conn:
        item = await service.answer(
            conn=conn,
            item_id=item_id,
            text=body.answer,
            owner=body.owner,
            by=client.client_id,
            prefix=settings.kafka_topic_prefix,
            now=utcnow(),
            sla_s=settings.inbox_sla_hours * 3600,
        )
    if relay is not None:
        relay.wake()
    return item
