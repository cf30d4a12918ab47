"""Demo sinks: a webhook receiver (HTTP, 127.0.0.1:8025) and an SMTP sink (127.0.0.1:2525).

They stand in for the source systems' callback endpoints and the customers' mailboxes when the
platform runs locally (`make run` starts them; notify's local defaults point at them). Each
webhook's HMAC signature is verified and the result recorded; a bad signature is answered 401.
Nothing is deduplicated here, so a duplicate notification would be visible in `GET /received`.

    python -m scripts.demo.sinks [--http-port 8025] [--smtp-port 2525]
"""

import argparse
import asyncio
import email
import email.policy
import os
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from feedloop.common import notifications
from feedloop.notify.settings import DEMO_WEBHOOK_SECRET
from starlette.types import Receive, Scope, Send

HOST = "127.0.0.1"  # loopback only: this is a demo, not a mail relay


class Inbox:
    """What the sinks received, newest last (bounded, so a long run cannot exhaust memory)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.messages: deque[dict[str, Any]] = deque(maxlen=limit)

    def add(self, **message: Any) -> None:
        """Records one message with the time it arrived."""
        self.messages.append({**message, "received_at": datetime.now(UTC).isoformat()})


class WebhookSink:
    """ASGI app: `POST /webhooks/{system}`, `GET /received`, `GET /healthz`."""

    def __init__(self, inbox: Inbox, secret: str) -> None:
        self.inbox = inbox
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/received":
            await _answer(send, 200, {"messages": list(self.inbox.messages)})
        elif method == "GET" and path == "/healthz":
            await _answer(send, 200, {"status": "ok"})
        elif method == "POST" and path.startswith("/webhooks/"):
            await self._webhook(scope, receive, send, system=path.removeprefix("/webhooks/"))
        else:
            await _answer(send, 404, {"error": "not found"})

    async def _webhook(self, scope: Scope, receive: Receive, send: Send, *, system: str) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        verified = notifications.verify(
            self.secret,
            timestamp=headers.get(notifications.HEADER_TIMESTAMP.lower()),
            signature=headers.get(notifications.HEADER_SIGNATURE.lower()),
            body=body,
        )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = {}
        self.inbox.add(
            channel="webhook",
            source_system=system,
            kind=payload.get("kind"),
            customer_id=payload.get("customer_id"),
            issue_id=payload.get("issue_id"),
            subject=payload.get("subject"),
            idempotency_key=headers.get(notifications.HEADER_IDEMPOTENCY_KEY.lower()),
            verified=verified,
        )
        if verified:
            await _answer(send, 200, {"received": True})
        else:
            await _answer(send, 401, {"error": "bad signature"})


async def _answer(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MailSink:
    """aiosmtpd handler: accepts every message and records who got what."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Records one accepted e-mail."""
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.inbox.add(
            channel="email",
            kind=parsed.get(notifications.MAIL_HEADER_KIND),
            customer_id=parsed.get(notifications.MAIL_HEADER_CUSTOMER),
            issue_id=parsed.get(notifications.MAIL_HEADER_ISSUE),
            subject=parsed.get("Subject"),
            message_id=parsed.get("Message-ID"),
            to=list(envelope.rcpt_tos),
        )
        return "250 Message accepted for delivery"


async def serve(*, http_port: int, smtp_port: int, secret: str) -> None:
    """Runs both sinks until interrupted."""
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    handler = MailSink(inbox)
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="demo-sink"), HOST, smtp_port)
    server = uvicorn.Server(
        uvicorn.Config(WebhookSink(inbox, secret), host=HOST, port=http_port, log_level="warning")
    )
    print(f"demo sinks: webhooks on http://{HOST}:{http_port}, SMTP on {HOST}:{smtp_port}")
    try:
        await server.serve()
    finally:
        smtp.close()
        await smtp.wait_closed()


def main() -> None:
    """Parses arguments and runs the sinks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--smtp-port", type=int, default=2525)
    args = parser.parse_args()
    secret = os.environ.get("FEEDLOOP_DEMO_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET)
    asyncio.run(serve(http_port=args.http_port, smtp_port=args.smtp_port, secret=secret))


if __name__ == "__main__":
    main()
