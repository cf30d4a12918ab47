"""Notification routes: listing, failures and resend."""

from typing import Any, Literal

from fastapi import APIRouter
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.common.web import Limit, Offset
from feedloop.notify.audit_log import audit_action
from feedloop.notify.customers.schemas import CustomerId
from feedloop.notify.delivery import service
from feedloop.notify.delivery.schemas import NotificationList, NotificationRead
from feedloop.notify.deps import AdminDep, EngineDep, ReaderDep, SenderDep, SettingsDep

router = APIRouter(
    prefix="/v1", tags=["notifications"], responses=problem_responses(*AUTHENTICATED)
)

Kind = Literal["acknowledgement", "resolution", "answer", "thanks", "note"]
Outcome = Literal[
    "delivered", "opted_out", "erased", "capped", "no_channel", "failed", "superseded"
]


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
    notification_id: str,
    engine: EngineDep,
    sender: SenderDep,
    settings: SettingsDep,
    client: AdminDep,
) -> dict[str, Any]:
    async with engine.begin() as conn:
        item = await service.resend(conn=conn, notification_id=notification_id, now=utcnow())
        await audit_action(
            conn,
            settings=settings,
            actor=client.client_id,
            action="notification.resent",
            target=("notification", notification_id),
        )
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
