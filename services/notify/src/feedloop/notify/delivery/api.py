"""Routes of the notify API: notifications, failures and resend, preferences, erasure."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.common.web import Limit, Offset
from feedloop.notify import service
from feedloop.notify.deps import AdminDep, EngineDep, EraserDep, ReaderDep, SenderDep, SettingsDep
from feedloop.notify.schemas import (
    ErasureRead,
    NotificationList,
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
)

router = APIRouter(
    prefix="/v1", tags=["notifications"], responses=problem_responses(*AUTHENTICATED)
)

Kind = Literal["acknowledgement", "resolution"]
Outcome = Literal[
    "delivered", "opted_out", "erased", "capped", "no_channel", "failed", "superseded"
]
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]


async def _page(engine: Any, *, limit: int, offset: int, **filters: Any) -> dict[str, Any]:
    async with engine.connect() as conn:
        items, total = await service.list_notifications(
            conn=conn, limit=limit, offset=offset, **filters
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/notifications", response_model=NotificationList, summary="List notifications")
async def list_notifications(
    engine: EngineDep,
    _client: ReaderDep,
    feedback_id: str | None = None,
    customer_id: str | None = None,
    kind: Kind | None = None,
    outcome: Outcome | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    return await _page(
        engine,
        limit=limit,
        offset=offset,
        feedback_id=feedback_id,
        customer_id=customer_id,
        kind=kind,
        outcome=outcome,
    )


@router.get(
    "/notifications/failed",
    response_model=NotificationList,
    summary="Notifications that failed after their retries (and went to notifications.dlq)",
)
async def failed_notifications(
    engine: EngineDep, _client: ReaderDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    return await _page(engine, limit=limit, offset=offset, outcome="failed")


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationRead,
    summary="A notification",
    responses=problem_responses(404),
)
async def get_notification(
    notification_id: str, engine: EngineDep, _client: ReaderDep
) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await service.get_notification(conn=conn, notification_id=notification_id)


@router.post(
    "/notifications/{notification_id}/resend",
    response_model=NotificationRead,
    status_code=202,
    summary="Send a failed notification again (same idempotency key; at most one delivered)",
    responses=problem_responses(404, 409),
)
async def resend_notification(
    notification_id: str, engine: EngineDep, sender: SenderDep, _client: AdminDep
) -> dict[str, Any]:
    async with engine.begin() as conn:
        item = await service.resend(conn=conn, notification_id=notification_id, now=utcnow())
    if sender is not None:
        sender.wake()
    return item


@router.get(
    "/feedback/{feedback_id}/notifications",
    response_model=NotificationList,
    summary="Notifications of one feedback item",
)
async def feedback_notifications(
    feedback_id: str, engine: EngineDep, _client: ReaderDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    return await _page(engine, limit=limit, offset=offset, feedback_id=feedback_id)


@router.get(
    "/customers/{customer_id}/notifications",
    response_model=NotificationList,
    summary="Notifications of one customer",
)
async def customer_notifications(
    customer_id: CustomerId,
    engine: EngineDep,
    _client: ReaderDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    return await _page(engine, limit=limit, offset=offset, customer_id=customer_id)


@router.get(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesRead,
    summary="A customer's opt-outs",
)
async def get_preferences(
    customer_id: CustomerId, engine: EngineDep, _client: ReaderDep
) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await service.get_preferences(conn=conn, customer_id=customer_id)


@router.put(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesRead,
    summary="Opt a customer out of (or back into) a channel, or all",
)
async def set_preferences(
    customer_id: CustomerId, update: PreferencesUpdate, engine: EngineDep, _client: AdminDep
) -> dict[str, Any]:
    async with engine.begin() as conn:
        return await service.set_preferences(
            conn=conn,
            customer_id=customer_id,
            opted_out={str(k): v for k, v in update.opted_out.items()},
            now=utcnow(),
        )


@router.delete(
    "/customers/{customer_id}",
    response_model=ErasureRead,
    summary="Erase a customer: delete their contact data; nothing more is sent to them",
)
async def erase_customer(
    customer_id: CustomerId,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    _client: EraserDep,
) -> dict[str, Any]:
    async with engine.begin() as conn:
        result = await service.erase(
            conn=conn, customer_id=customer_id, settings=settings, now=utcnow()
        )
    relay = request.app.state.relay
    if relay is not None:
        relay.wake()
    return result
