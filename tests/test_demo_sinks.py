"""The demo sinks, built on the shared receivers: real HTTP and SMTP on loopback."""

import asyncio
import smtplib
import time
from email.message import EmailMessage

import httpx
import orjson
import uvicorn
from feedloop.common import notifications

from scripts.demo.sinks import DemoSinks
from tests.support.polling import eventually
from tests.support.receivers import HOST, free_port

SECRET = "demo-test-secret"


def _signed(body: bytes, secret: str) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        notifications.HEADER_TIMESTAMP: str(timestamp),
        notifications.HEADER_SIGNATURE: notifications.sign(secret, timestamp, body),
        notifications.HEADER_IDEMPOTENCY_KEY: "k1",
    }


def _mail(port: int) -> None:
    message = EmailMessage()
    message["From"] = "notify@feedloop.test"
    message["To"] = "c1@example.com"
    message["Subject"] = "Fixed"
    message[notifications.MAIL_HEADER_KIND] = "resolution"
    message[notifications.MAIL_HEADER_CUSTOMER] = "c1"
    message[notifications.MAIL_HEADER_ISSUE] = "i1"
    message[notifications.MAIL_HEADER_IDEMPOTENCY_KEY] = "k2"
    message.set_content("We fixed it.")
    with smtplib.SMTP(HOST, port, timeout=10) as smtp:
        smtp.send_message(message)


async def test_demo_sinks_verify_webhooks_record_mail_and_list_both() -> None:
    http_port, smtp_port = free_port(), free_port()
    sinks = DemoSinks(secret=SECRET, http_port=http_port, smtp_port=smtp_port)
    sinks.mail.start()
    server = uvicorn.Server(uvicorn.Config(sinks, host=HOST, port=http_port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, 10, what="the sinks started")
        body = orjson.dumps({"kind": "resolution", "customer_id": "c1", "issue_id": "i1"})
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{http_port}") as client:
            good = await client.post("/webhooks/shop", content=body, headers=_signed(body, SECRET))
            bad = await client.post("/webhooks/shop", content=body, headers=_signed(body, "x"))
            await asyncio.to_thread(_mail, smtp_port)
            messages = (await client.get("/received")).json()["messages"]
            assert (await client.get("/healthz")).status_code == 200
        assert (good.status_code, bad.status_code) == (200, 401)
        hooks = [m for m in messages if m["channel"] == "webhook"]
        assert [(m["source_system"], m["verified"], m["idempotency_key"]) for m in hooks] == [
            ("shop", True, "k1"),
            ("shop", False, "k1"),
        ]
        (mail,) = [m for m in messages if m["channel"] == "email"]
        assert (mail["kind"], mail["customer_id"], mail["issue_id"], mail["to"]) == (
            "resolution",
            "c1",
            "i1",
            ["c1@example.com"],
        )
    finally:
        server.should_exit = True
        await task
        sinks.mail.stop()
