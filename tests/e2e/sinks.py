"""The customers' side of the loop on loopback: a webhook receiver and an SMTP server."""

import asyncio
import contextlib
import email
import email.policy
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from aiosmtpd.controller import Controller
from feedloop.common import notifications
from starlette.types import Receive, Scope, Send

from tests.e2e.platform import free_port

SECRET = "e2e-webhook-secret"


@dataclass(frozen=True)
class Message:
    """One notification a customer received, by either channel."""

    channel: str
    kind: str
    customer_id: str
    issue_id: str
    idempotency_key: str


@dataclass
class Sinks:
    """Everything the receivers got; webhooks whose signature does not verify are refused."""

    webhook_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    refused: int = 0

    def notify_env(self) -> dict[str, str]:
        """Notify's settings that point its webhooks and e-mail here."""
        systems = {"shop": {"callback_url": f"http://127.0.0.1:{self.webhook_port}/hooks/shop"}}
        return {
            "FEEDLOOP_NOTIFY_SOURCE_SYSTEMS": orjson.dumps(systems).decode(),
            "FEEDLOOP_NOTIFY_WEBHOOK_SIGNING_SECRET": SECRET,
            "FEEDLOOP_NOTIFY_SMTP_HOST": "127.0.0.1",
            "FEEDLOOP_NOTIFY_SMTP_PORT": str(self.smtp_port),
            "FEEDLOOP_NOTIFY_SMTP_SECURITY": "none",
        }

    def received(self, kind: str) -> Counter[str]:
        """Messages of one kind per customer, deliveries repeated by key counted once."""
        unique = {m.idempotency_key: m for m in self.messages if m.kind == kind}
        return Counter(m.customer_id for m in unique.values())

    def deliveries(self, kind: str) -> Counter[str]:
        """Messages of one kind per customer, every delivery counted."""
        return Counter(m.customer_id for m in self.messages if m.kind == kind)

    async def webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: verifies the signature, records the notification, answers 204."""
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        valid = notifications.verify(
            SECRET,
            timestamp=headers.get(notifications.HEADER_TIMESTAMP.lower()),
            signature=headers.get(notifications.HEADER_SIGNATURE.lower()),
            body=body,
        )
        status = 204
        if valid:
            data: dict[str, Any] = orjson.loads(body)
            self.messages.append(
                Message(
                    "webhook",
                    data["kind"],
                    data["customer_id"],
                    data["issue_id"],
                    headers.get(notifications.HEADER_IDEMPOTENCY_KEY.lower(), ""),
                )
            )
        else:
            self.refused += 1
            status = 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd: records one e-mail by its feedloop headers."""
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(
            Message(
                "email",
                str(mail[notifications.MAIL_HEADER_KIND]),
                str(mail[notifications.MAIL_HEADER_CUSTOMER]),
                str(mail[notifications.MAIL_HEADER_ISSUE]),
                str(mail[notifications.MAIL_HEADER_IDEMPOTENCY_KEY]),
            )
        )
        return "250 OK"


@contextlib.asynccontextmanager
async def running_sinks() -> AsyncIterator[Sinks]:
    """Starts both receivers on loopback for the block."""
    sinks = Sinks()
    smtp = Controller(sinks, hostname="127.0.0.1", port=sinks.smtp_port)
    smtp.start()
    server = uvicorn.Server(
        uvicorn.Config(
            sinks.webhook,
            host="127.0.0.1",
            port=sinks.webhook_port,
            log_level="warning",
            interface="asgi3",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # bounded: 10 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the webhook receiver did not start"
        yield sinks
    finally:
        server.should_exit = True
        await task
        smtp.stop()
