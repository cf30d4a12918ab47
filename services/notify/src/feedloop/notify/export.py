"""A customer's data export: one JSON document assembled across the services.

`GET /v1/customers/{id}/export` (scope customers:export) joins notify's part (contact data,
opt-outs, the feedback it links, the notifications sent) with prioritize's (feedback items as
stored, the issues they are linked to) fetched from prioritize's API. ingest keeps nothing
about a customer beyond in-memory ids for deduplication, so it has no part. Each export is
audited.
"""

from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from feedloop.common.audit import record as audit
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.errors import Unavailable
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.notify.customers import service as customers
from feedloop.notify.customers.schemas import CustomerId
from feedloop.notify.deps import EngineDep
from feedloop.notify.models import audit_t, customer_t, delivery_t, link_t, notification_t
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.settings import NotifySettings
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

EXPORT_TIMEOUT_S = 10.0
SCOPE_EXPORT = "customers:export"
ExporterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_EXPORT))]


class CustomerExport(BaseModel):
    """Everything feedloop holds of one customer, by service."""

    customer_id: str
    exported_at: datetime
    contact: dict[str, Any] = Field(description="notify: e-mail and locale (none once erased).")
    preferences: dict[str, Any]
    feedback_links: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    prioritize: dict[str, Any] = Field(description="Feedback items as stored, and their issues.")


router = APIRouter(
    prefix="/v1", tags=["data rights"], responses=problem_responses(*AUTHENTICATED, 503)
)


@router.get(
    "/customers/{customer_id}/export",
    response_model=CustomerExport,
    summary="Everything feedloop holds of a customer, as one JSON document",
)
async def export_customer(
    customer_id: CustomerId, request: Request, engine: EngineDep, client: ExporterDep
) -> CustomerExport:
    """Assembles the export across services and audits it."""
    settings: NotifySettings = request.app.state.settings
    theirs = await prioritize_part(settings, customer_id)
    async with engine.begin() as conn:
        mine = await notify_part(conn=conn, customer_id=customer_id)
        await audit(
            conn,
            table=audit_t,
            outbox=OUTBOX,
            prefix=settings.kafka_topic_prefix,
            actor=client.client_id,
            action="customer.exported",
            target=("customer", customer_id),
            at=utcnow(),
        )
    return CustomerExport(customer_id=customer_id, exported_at=utcnow(), prioritize=theirs, **mine)


async def prioritize_part(settings: NotifySettings, customer_id: str) -> dict[str, Any]:
    """Fetches prioritize's part of the export; 503 when it cannot be had."""
    if settings.export_prioritize_url is None:
        raise Unavailable("no prioritize URL is configured (export_prioritize_url)")
    key = settings.export_prioritize_api_key
    headers = {"X-API-Key": key.get_secret_value()} if key else {}
    url = f"{settings.export_prioritize_url.rstrip('/')}/v1/customers/{customer_id}/data"
    try:
        async with httpx.AsyncClient(timeout=EXPORT_TIMEOUT_S) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"prioritize did not answer: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise Unavailable(f"prioritize answered {response.status_code}")
    body: dict[str, Any] = response.json()
    return body


async def notify_part(*, conn: AsyncConnection, customer_id: str) -> dict[str, Any]:
    """Reads notify's part of the export."""
    contact = (
        await conn.execute(
            select(customer_t.c.email, customer_t.c.locale, customer_t.c.erased_at).where(
                customer_t.c.id == customer_id
            )
        )
    ).first()
    links = await conn.execute(
        select(
            link_t.c.feedback_id,
            link_t.c.issue_id,
            link_t.c.source_system,
            link_t.c.channel,
            link_t.c.received_at,
            link_t.c.closed_at,
            link_t.c.close_outcome,
        ).where(link_t.c.customer_id == customer_id)
    )
    sent = await conn.execute(
        select(
            notification_t.c.feedback_id,
            notification_t.c.kind,
            notification_t.c.issue_id,
            notification_t.c.outcome,
            delivery_t.c.channel,
            delivery_t.c.delivered_at,
        )
        .join(delivery_t, delivery_t.c.id == notification_t.c.delivery_id)
        .where(notification_t.c.customer_id == customer_id)
    )
    return {
        "contact": dict(contact._mapping) if contact is not None else {},
        "preferences": await customers.get_preferences(conn=conn, customer_id=customer_id),
        "feedback_links": [dict(r._mapping) for r in links],
        "notifications": [dict(r._mapping) for r in sent],
    }
