"""/v1/alerts: who gets spike alerts and weekly digests (admin scope), and what was sent."""

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query, Response
from feedloop.common.auth import ApiClient
from feedloop.common.emails import check_email
from feedloop.common.errors import Invalid, NotFound
from feedloop.common.events import SpikeDetected, WeeklyDigest, utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.notify.alerts.models import alert_delivery_t, subscription_t
from feedloop.notify.alerts.render import render
from feedloop.notify.audit_log import audit_action
from feedloop.notify.deps import AdminDep, EngineDep, ReaderDep, SettingsDep, TransactionDep
from feedloop.notify.settings import NotifySettings
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(
    prefix="/v1/alerts", tags=["alerts"], responses=problem_responses(*AUTHENTICATED)
)
Theme = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*$")]


class SubscriptionCreate(BaseModel):
    """A subscription: an e-mail address or a Slack-compatible webhook URL, the alerts it
    takes, and (spikes) the themes it takes them for (none: every theme)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    channel: Literal["email", "webhook"]
    target: str = Field(min_length=3, max_length=2000)
    kinds: list[Literal["spike", "digest"]] = Field(min_length=1, max_length=2)
    themes: list[Theme] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _target_fits_channel(self) -> Self:
        if self.channel == "email":
            self.target = check_email(self.target)
        else:
            url = AnyHttpUrl(self.target)  # raises for anything but http(s)
            if url.scheme not in ("http", "https") or not url.host:
                raise ValueError("a webhook target is an http(s) URL")
        return self


def refuse_internal_webhook(target: str) -> None:
    """Outside local mode a webhook is https and names no loopback, private or link-local
    address nor a cluster-internal name, so an admin key cannot point notify at the cluster's
    own services or a cloud metadata endpoint (FEEDLOOP_NOTIFY_ALERT_WEBHOOK_ALLOW_INTERNAL
    lifts it for a chat server inside the company network).

    A host name is not resolved here (its address may change later): a public name that
    resolves inward is not caught, and notify's egress NetworkPolicy admits port 443 anywhere
    (customers' own webhooks may be internal).
    """
    url = AnyHttpUrl(target)
    host = (url.host or "").strip("[]").lower()
    if url.scheme != "https":
        raise Invalid.field("target", "a webhook is https outside local mode")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".svc")):
        raise Invalid.field("target", f"{host} is an internal name")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global:
        raise Invalid.field("target", f"{host} is not a public address")


class Subscription(SubscriptionCreate):
    """A stored subscription."""

    model_config = ConfigDict(extra="ignore")

    id: str
    created_by: str
    created_at: datetime


class AlertDeliveryRead(BaseModel):
    """One alert to one subscription."""

    id: str
    subscription_id: str
    alert_key: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


async def _audit(
    conn: AsyncConnection,
    settings: NotifySettings,
    client: ApiClient,
    action: tuple[str, str],
    detail: dict[str, Any],
) -> None:
    """Audits an action on a subscription (action name, subscription id)."""
    name, subscription_id = action
    target = ("alert_subscription", subscription_id)
    await audit_action(
        conn, settings=settings, actor=client.client_id, action=name, target=target, detail=detail
    )


@router.get("/subscriptions", response_model=list[Subscription], summary="Alert subscriptions")
async def list_subscriptions(engine: EngineDep, _client: AdminDep) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(subscription_t).order_by(subscription_t.c.created_at))
        return [dict(r._mapping) for r in rows]


@router.post(
    "/subscriptions", status_code=201, response_model=Subscription, summary="Subscribe to alerts"
)
async def create_subscription(
    body: SubscriptionCreate, client: AdminDep, settings: SettingsDep, conn: TransactionDep
) -> dict[str, Any]:
    inward_ok = settings.is_local or settings.alert_webhook_allow_internal
    if body.channel == "webhook" and not inward_ok:
        refuse_internal_webhook(body.target)
    row = body.model_dump() | {
        "id": f"sub-{uuid.uuid4().hex[:16]}",
        "created_by": client.client_id,
        "created_at": utcnow(),
    }
    await conn.execute(subscription_t.insert().values(**row))
    detail = {"channel": body.channel, "kinds": list(body.kinds)}
    await _audit(conn, settings, client, ("alert.subscribed", row["id"]), detail)
    return row


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe: deletes the subscription and its deliveries",
    responses=problem_responses(404),
)
async def delete_subscription(
    subscription_id: str, client: AdminDep, settings: SettingsDep, conn: TransactionDep
) -> Response:
    gone = await conn.execute(delete(subscription_t).where(subscription_t.c.id == subscription_id))
    if gone.rowcount != 1:
        raise NotFound(f"no alert subscription {subscription_id!r}")
    await conn.execute(
        delete(alert_delivery_t).where(alert_delivery_t.c.subscription_id == subscription_id)
    )
    await _audit(conn, settings, client, ("alert.unsubscribed", subscription_id), {})
    return Response(status_code=204)


class PreviewRequest(BaseModel):
    """An alert event's payload to render as its message."""

    kind: Literal["spike", "digest"]
    payload: dict[str, Any]


class Preview(BaseModel):
    """An alert's message: subject, plain text (also the webhook's text) and HTML."""

    subject: str
    text: str
    html: str | None


@router.post("/preview", response_model=Preview, summary="An alert's message, rendered")
async def preview(body: PreviewRequest, settings: SettingsDep, _client: ReaderDep) -> Preview:
    model = WeeklyDigest if body.kind == "digest" else SpikeDetected
    try:
        payload = model.model_validate(body.payload).model_dump(mode="json")
    except ValidationError as exc:
        raise Invalid(f"not a {body.kind} alert: {exc.error_count()} errors") from exc
    message = render(body.kind, payload, console_url=settings.alert_console_url)
    return Preview(subject=message.subject, text=message.text, html=message.html)


@router.get(
    "/deliveries", response_model=list[AlertDeliveryRead], summary="Recent alert deliveries"
)
async def list_deliveries(
    engine: EngineDep, _client: AdminDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(alert_delivery_t)
            .order_by(alert_delivery_t.c.created_at.desc(), alert_delivery_t.c.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]
