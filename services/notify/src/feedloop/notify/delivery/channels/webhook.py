"""Webhooks back to the originating system: signed JSON with an idempotency key.

2xx: delivered. 408, 409, 425, 429, 5xx, timeouts and connection errors: retried (a
`Retry-After` is honoured as the least delay). Any other 4xx: the receiver refuses the message
as it is, so retrying cannot help; it fails at once (and can be resent after a fix).
"""

import time

import httpx
import orjson
from feedloop.common import notifications
from feedloop.notify.delivery.channels import Outgoing, SendResult
from feedloop.notify.delivery.render import Rendered
from feedloop.notify.settings import NotifySettings

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def event_type(kind: str) -> str:
    """Returns the webhook event type of a notification kind."""
    return f"notification.{kind}"


def body_of(item: Outgoing, rendered: Rendered, *, sent_at: str) -> bytes:
    """Returns the JSON body of a webhook call."""
    return orjson.dumps(
        {
            "id": item.delivery_id,
            "type": event_type(item.kind),
            "kind": item.kind,
            "customer_id": item.customer_id,
            "issue_id": item.issue_id,
            "locale": rendered.locale,
            "subject": rendered.subject,
            "message": rendered.text,
            "resolution_message": item.message,
            "feedback": item.feedback,
            "attempt": item.attempts,
            "sent_at": sent_at,
        }
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class WebhookChannel:
    """Posts notifications to the source systems' callback URLs."""

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=settings.send_concurrency),
            follow_redirects=False,
        )

    async def close(self) -> None:
        """Closes the connection pool."""
        await self.client.aclose()

    async def send(self, item: Outgoing, rendered: Rendered) -> SendResult:
        """Posts one notification; never raises for the receiver's failures."""
        system = self.settings.webhooks.get(item.source_system)
        secret = self.settings.secret_of(item.source_system)
        if system is None or system.callback_url is None or secret is None:
            return SendResult("permanent", f"source system {item.source_system!r} has no webhook")
        now = int(time.time())
        body = body_of(item, rendered, sent_at=str(now))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "feedloop-notify/1",
            notifications.HEADER_SIGNATURE: notifications.sign(secret, now, body),
            notifications.HEADER_TIMESTAMP: str(now),
            notifications.HEADER_IDEMPOTENCY_KEY: item.delivery_id,
            notifications.HEADER_EVENT: event_type(item.kind),
        }
        started = time.perf_counter()
        try:
            response = await self.client.post(
                str(system.callback_url), content=body, headers=headers, timeout=system.timeout_s
            )
        except httpx.TimeoutException as exc:
            return SendResult("retry", f"timeout: {type(exc).__name__}", None, _since(started))
        except httpx.HTTPError as exc:
            return SendResult("retry", f"{type(exc).__name__}: {exc}"[:500], None, _since(started))
        took = _since(started)
        status = response.status_code
        if 200 <= status < 300:
            return SendResult("delivered", duration_s=took)
        error = f"HTTP {status}: {response.text[:200]}"
        if status >= 500 or status in RETRYABLE_STATUS:
            return SendResult("retry", error, _retry_after(response), took)
        return SendResult("permanent", error, None, took)


def _since(started: float) -> float:
    return time.perf_counter() - started
