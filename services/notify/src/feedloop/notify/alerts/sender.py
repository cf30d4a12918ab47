"""Sends claimed alert deliveries: e-mail through the e-mail channel, or a Slack-compatible
webhook; records each result (retry with backoff, dead letter when it fails for good)."""

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx
from feedloop.common.events import utcnow
from feedloop.common.loops import WakeableLoop
from feedloop.common.mail.wire import wire_message
from feedloop.notify.alerts import store
from feedloop.notify.alerts.render import render
from feedloop.notify.delivery.channels import Outgoing, SendResult
from feedloop.notify.delivery.channels.mail import EmailChannel, build_message
from feedloop.notify.delivery.render import Rendered
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 425, 429})


def webhook_verdict(status: int) -> SendResult:
    """2xx delivered; 408, 425, 429 and 5xx retried; any other answer fails for good."""
    if 200 <= status < 300:
        return SendResult("delivered")
    verdict = "retry" if status in RETRY_STATUSES or status >= 500 else "permanent"
    return SendResult(verdict, f"webhook answered HTTP {status}")  # type: ignore[arg-type]


class AlertSender(WakeableLoop):
    """Works the alert deliveries in the background, one batch at a time."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: NotifySettings,
        mail: EmailChannel,
        http: httpx.AsyncClient,
    ) -> None:
        super().__init__(task_name="notify-alerts")
        self.engine = engine
        self.settings = settings
        self.mail = mail
        self.http = http

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sending alerts failed; retrying")
            await self._wait_for_wake(self.settings.alert_poll_s)

    async def run_once(self, now: datetime) -> dict[str, int]:
        """Claims what is due and sends it; returns the statuses reached, counted."""
        claimed = await store.claim(self.engine, self.settings, now)
        results = await asyncio.gather(*(self.send(item) for item in claimed))
        counts: dict[str, int] = {}
        for item, result in zip(claimed, results, strict=True):
            status = await store.record(self.engine, item, result, self.settings, utcnow())
            counts[status] = counts.get(status, 0) + 1
        if claimed:
            await store.prune(self.engine, self.settings, now)
        return counts

    async def send(self, item: store.Claimed) -> SendResult:
        """Renders and sends one delivery; never raises for the receiver's failures."""
        rendered = render(item.kind, item.payload, console_url=self.settings.alert_console_url)
        if item.channel == "webhook":
            return await self._post(item.target, rendered)
        return await self._mail(item, rendered)

    async def _post(self, url: str, rendered: Rendered) -> SendResult:
        body: dict[str, Any] = {"text": f"*{rendered.subject}*\n{rendered.text}"}
        try:
            async with self.http.stream("POST", url, json=body) as response:
                return webhook_verdict(response.status_code)
        except httpx.HTTPError as exc:
            return SendResult("retry", f"{type(exc).__name__}: {exc}"[:500])

    async def _mail(self, item: store.Claimed, rendered: Rendered) -> SendResult:
        outgoing = Outgoing(
            delivery_id=item.id,
            lease_token="",
            kind=f"alert.{item.kind}",
            round=0,
            channel="email",
            customer_id=f"staff:{item.subscription_id}",
            issue_id=item.alert_key,
            source_system="alerts",
            attempts=item.attempts,
            created_at=item.created_at,
            email=item.target,
            locale="en",
            message=None,
        )
        # Staff mail: no List-Unsubscribe (an admin deletes the subscription instead).
        message = build_message(outgoing, rendered, self.settings)
        return await self.mail.send_wire(wire_message(message, self.mail.dkim))
