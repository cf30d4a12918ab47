"""Demo sinks: a webhook receiver (HTTP, 127.0.0.1:8025) and an SMTP sink (127.0.0.1:2525).

They stand in for the source systems' callback endpoints and the customers' mailboxes when the
platform runs locally (`make run` starts them; notify's local defaults point at them). Each
webhook's HMAC signature is verified and the result recorded; a bad signature is answered 401.
Nothing is deduplicated here, so a duplicate notification would be visible in `GET /received`.

    python -m scripts.demo.sinks [--http-port 8025] [--smtp-port 2525]
"""

import argparse
import asyncio
import os
from dataclasses import asdict
from typing import Any

import orjson
import uvicorn
from feedloop.notify.settings import DEMO_WEBHOOK_SECRET
from starlette.types import Receive, Scope, Send

from tests.support.receivers import HOST, SmtpServer, WebhookReceiver

LIMIT = 200_000  # messages kept per channel: a long run cannot exhaust memory


class DemoSinks:
    """ASGI app: `POST /webhooks/{system}` (the shared receiver), `GET /received`, `GET /healthz`.

    Webhooks whose signature does not verify are recorded and answered 401.
    """

    def __init__(self, *, secret: str, http_port: int, smtp_port: int) -> None:
        self.webhooks = WebhookReceiver(
            secret=secret, port=http_port, refuse_unverified=True, limit=LIMIT
        )
        self.mail = SmtpServer(smtp_port, limit=LIMIT)

    def received(self) -> list[dict[str, Any]]:
        """Every message of both channels, oldest first."""
        hooks = [
            {
                "channel": "webhook",
                "source_system": hit.system,
                "kind": hit.body.get("kind"),
                "customer_id": hit.body.get("customer_id"),
                "issue_id": hit.body.get("issue_id"),
                "subject": hit.body.get("subject"),
                "text": hit.body.get("message"),
                "idempotency_key": hit.key,
                "verified": hit.verified,
                "received_at": hit.received_at,
            }
            for hit in list(self.webhooks.hits)
        ]
        mails = [
            {**asdict(mail), "channel": "email", "to": mail.to.split(", ")}
            for mail in list(self.mail.handler.accepted)
        ]
        return sorted(hooks + mails, key=lambda m: m["received_at"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path.startswith("/webhooks/"):
            await self.webhooks(scope, receive, send)
        elif method == "GET" and path == "/received":
            await _answer(send, 200, {"messages": self.received()})
        elif method == "GET" and path == "/healthz":
            await _answer(send, 200, {"status": "ok"})
        else:
            await _answer(send, 404, {"error": "not found"})


async def _answer(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve(*, http_port: int, smtp_port: int, secret: str) -> None:
    """Runs both sinks until interrupted."""
    sinks = DemoSinks(secret=secret, http_port=http_port, smtp_port=smtp_port)
    sinks.mail.start()
    server = uvicorn.Server(uvicorn.Config(sinks, host=HOST, port=http_port, log_level="warning"))
    print(f"demo sinks: webhooks on http://{HOST}:{http_port}, SMTP on {HOST}:{smtp_port}")
    try:
        await server.serve()
    finally:
        sinks.mail.stop()


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
