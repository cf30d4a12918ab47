"""Customer routes: opt-outs and erasure."""

from typing import Any

from fastapi import APIRouter
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.notify.audit_log import audit_action
from feedloop.notify.customers import service
from feedloop.notify.customers.schemas import (
    CustomerId,
    ErasureRead,
    PreferencesRead,
    PreferencesUpdate,
)
from feedloop.notify.deps import (
    AdminDep,
    EngineDep,
    EraserDep,
    ReaderDep,
    SettingsDep,
    TransactionDep,
)

router = APIRouter(
    prefix="/v1", tags=["notifications"], responses=problem_responses(*AUTHENTICATED)
)


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
    customer_id: CustomerId,
    update: PreferencesUpdate,
    settings: SettingsDep,
    client: AdminDep,
    conn: TransactionDep,
) -> dict[str, Any]:
    opted_out = {str(k): v for k, v in update.opted_out.items()}
    await audit_action(
        conn,
        settings=settings,
        actor=client.client_id,
        action="customer.preferences_changed",
        target=("customer", customer_id),
        detail=opted_out,
    )
    return await service.set_preferences(
        conn=conn, customer_id=customer_id, opted_out=opted_out, now=utcnow()
    )


@router.delete(
    "/customers/{customer_id}",
    response_model=ErasureRead,
    summary="Erase a customer's contact data in notify only (POST .../erasure erases everywhere)",
)
async def erase_customer(
    customer_id: CustomerId,
    settings: SettingsDep,
    client: EraserDep,
    conn: TransactionDep,
) -> dict[str, Any]:
    result = await service.erase(
        conn=conn, customer_id=customer_id, settings=settings, now=utcnow()
    )
    await audit_action(
        conn,
        settings=settings,
        actor=client.client_id,
        action="customer.contact_erased",
        target=("customer", customer_id),
        detail={"cancelled_deliveries": result["cancelled_deliveries"]},
    )
    return result
