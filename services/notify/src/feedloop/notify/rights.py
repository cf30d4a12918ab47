"""Data rights in notify: the erasure API, notify's own erasure, and the confirmations it shows.

notify owns customers, so it takes erasure requests (`POST /v1/customers/{id}/erasure`):
the request row, its `customer.erasure_requested` event and an audit entry are written in one
transaction (the event through the outbox). Like every stage, notify then erases from the
request it reads back from `customer-requests`, so a notify stage that was down when the
request came catches up when it returns; `GET /v1/customers/{id}/erasure` shows which services
have confirmed.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from feedloop.common import topics
from feedloop.common.audit import SCOPE_AUDIT, audit_router
from feedloop.common.audit import record as audit
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.errors import NotFound
from feedloop.common.events import CustomerErased, CustomerErasureRequested, utcnow
from feedloop.common.outbox import record_row
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.common.rights import (
    CONFIRMERS,
    app_rights_consumer,
    erasure_request_id,
    requested_record,
)
from feedloop.notify.customers import service as customers
from feedloop.notify.customers.schemas import CustomerId
from feedloop.notify.deps import EngineDep, EraserDep, TransactionDep
from feedloop.notify.intake.consumer import SERVICE
from feedloop.notify.models import (
    audit_t,
    customer_t,
    delivery_t,
    erasure_confirmation_t,
    erasure_request_t,
    outbox_t,
)
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.settings import NotifySettings
from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class ServiceConfirmation(BaseModel):
    """One service's confirmation of an erasure."""

    service: str
    erased_at: datetime
    counts: dict[str, int]


class ErasureStatus(BaseModel):
    """An erasure request and which services have confirmed it."""

    request_id: str
    customer_id: str
    requested_at: datetime
    requested_by: str
    complete: bool = Field(description="True once every expected service confirmed.")
    pending: list[str] = Field(description="Services that have not confirmed yet.")
    confirmed: list[ServiceConfirmation]


SCOPES = frozenset({SCOPE_AUDIT, "customers:export"})
"""Scopes of the data-rights routes beyond customers:erase (the development key has them)."""
audit_routes = audit_router(table=audit_t, service=SERVICE)

router = APIRouter(
    prefix="/v1", tags=["data rights"], responses=problem_responses(*AUTHENTICATED, 404)
)


@router.post(
    "/customers/{customer_id}/erasure",
    status_code=202,
    response_model=ErasureStatus,
    summary="Request the erasure of a customer's personal data in every service",
)
async def request_erasure(
    customer_id: CustomerId,
    request: Request,
    response: Response,
    client: EraserDep,
    conn: TransactionDep,
) -> ErasureStatus:
    """Publishes the request (once: a request still pending is returned as it is)."""
    settings: NotifySettings = request.app.state.settings
    current = await erasure_status(conn=conn, customer_id=customer_id)
    if current is not None and not current.complete:
        response.status_code = 200
        return current
    await create_request(
        conn=conn, customer_id=customer_id, actor=client.client_id, settings=settings
    )
    status = await erasure_status(conn=conn, customer_id=customer_id)
    assert status is not None
    return status


@router.get(
    "/customers/{customer_id}/erasure",
    response_model=ErasureStatus,
    summary="The latest erasure request of a customer and which services confirmed it",
)
async def get_erasure(
    customer_id: CustomerId, engine: EngineDep, _client: EraserDep
) -> ErasureStatus:
    """Returns the latest request's status; 404 when the customer was never erased."""
    async with engine.connect() as conn:
        status = await erasure_status(conn=conn, customer_id=customer_id)
    if status is None:
        raise NotFound(f"no erasure was requested for customer {customer_id}")
    return status


async def create_request(
    *, conn: AsyncConnection, customer_id: str, actor: str, settings: NotifySettings
) -> CustomerErasureRequested:
    """Records a request, its event (outbox) and its audit entry in the caller's transaction."""
    now = utcnow()
    event = CustomerErasureRequested(
        request_id=erasure_request_id(customer_id, now.isoformat()),
        customer_id=customer_id,
        requested_at=now,
        requested_by=actor,
        services=list(CONFIRMERS),
    )
    await conn.execute(
        erasure_request_t.insert().values(
            id=event.request_id,
            customer_id=customer_id,
            requested_by=actor,
            requested_at=now,
            services=event.services,
        )
    )
    record = requested_record(event, prefix=settings.kafka_topic_prefix)
    await OUTBOX.write(conn, [record_row(record, event_id=event.request_id, now=now)])
    await audit(
        conn,
        table=audit_t,
        outbox=OUTBOX,
        prefix=settings.kafka_topic_prefix,
        actor=actor,
        action="customer.erasure_requested",
        target=("customer", customer_id),
        at=now,
        detail={"request_id": event.request_id},
    )
    return event


async def erasure_status(*, conn: AsyncConnection, customer_id: str) -> ErasureStatus | None:
    """Returns the latest erasure request of a customer with its confirmations, or None."""
    request = (
        await conn.execute(
            select(erasure_request_t)
            .where(erasure_request_t.c.customer_id == customer_id)
            .order_by(erasure_request_t.c.requested_at.desc())
            .limit(1)
        )
    ).first()
    if request is None:
        return None
    rows = await conn.execute(
        select(erasure_confirmation_t)
        .where(erasure_confirmation_t.c.request_id == request.id)
        .order_by(erasure_confirmation_t.c.service)
    )
    confirmed = [
        ServiceConfirmation(service=r.service, erased_at=r.erased_at, counts=r.counts) for r in rows
    ]
    done = {c.service for c in confirmed}
    pending = [s for s in request.services if s not in done]
    return ErasureStatus(
        request_id=request.id,
        customer_id=customer_id,
        requested_at=request.requested_at,
        requested_by=request.requested_by,
        complete=not pending,
        pending=pending,
        confirmed=confirmed,
    )


async def erase_customer(
    *, conn: AsyncConnection, customer_id: str, settings: NotifySettings
) -> dict[str, int]:
    """Erases notify's data of a customer: contact data, opt-outs, caps, errors quoting them."""
    had_email = await conn.scalar(select(customer_t.c.email).where(customer_t.c.id == customer_id))
    result = await customers.erase(
        conn=conn, customer_id=customer_id, settings=settings, now=utcnow()
    )
    scrubbed = await conn.execute(
        update(delivery_t)
        .where(delivery_t.c.customer_id == customer_id, delivery_t.c.last_error.is_not(None))
        .values(last_error="(erased)")
    )
    return {
        "contacts": 1 if had_email else 0,
        "cancelled_deliveries": int(result["cancelled_deliveries"]),
        "scrubbed_errors": scrubbed.rowcount or 0,
        "dead_letters": await _drop_unsent_dead_letters(conn, customer_id),
    }


async def _drop_unsent_dead_letters(conn: AsyncConnection, customer_id: str) -> int:
    # A failed delivery's dead letter quotes the error (which may quote the address); one not
    # relayed yet is dropped with the customer. Relayed ones are the topic's to forget.
    rows = await conn.execute(
        select(outbox_t.c.id, outbox_t.c.value).where(
            outbox_t.c.topic.like(f"%{topics.NOTIFICATIONS_DLQ}")
        )
    )
    ids = [r.id for r in rows if _names_customer(r.value, customer_id)]
    if ids:
        await conn.execute(delete(outbox_t).where(outbox_t.c.id.in_(ids)))
    return len(ids)


def _names_customer(value: bytes, customer_id: str) -> bool:
    try:
        body: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("customer_id") == customer_id


def consumer(app: FastAPI, engine: AsyncEngine, settings: NotifySettings) -> BatchConsumer:
    """Returns notify's loop on `customer-requests`: erase, confirm, record confirmations."""

    async def erase(conn: AsyncConnection, customer_id: str) -> dict[str, int]:
        return await erase_customer(conn=conn, customer_id=customer_id, settings=settings)

    async def confirmed(confirmations: Sequence[CustomerErased]) -> None:
        async with engine.begin() as conn:
            await insert_ignoring_conflicts(
                conn,
                erasure_confirmation_t,
                [
                    {
                        "request_id": c.request_id,
                        "service": c.service,
                        "counts": c.counts,
                        "erased_at": c.erased_at,
                    }
                    for c in confirmations
                ],
            )

    return app_rights_consumer(
        app,
        engine,
        settings=settings,
        service=SERVICE,
        erase_customer=erase,
        on_confirmations=confirmed,
    )
