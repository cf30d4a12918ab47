"""Real receivers on loopback: a webhook receiver (HTTP) and an SMTP server (aiosmtpd).

The customers' side of the loop, for notify's tests, the end-to-end tests, the benchmarks and the
demo sinks (scripts/demo/sinks.py). Each webhook's HMAC signature is verified and recorded; the
receivers answer as scripted, so tests can make them fail, hang or go down and come back.
"""

import asyncio
import contextlib
import email
import email.policy
import socket
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from aiosmtpd.controller import Controller
from feedloop.common import notifications
from starlette.types import Receive, Scope, Send

HOST = "127.0.0.1"  # loopback only: never a relay


def free_port() -> int:
    """Returns a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _now() -> datetime:
    return datetime.now(UTC)


def _trim(items: list[Any], limit: int | None) -> None:
    """Keeps at most `limit` items, the newest (a long demo run cannot exhaust memory)."""
    if limit is not None and len(items) > limit:
        del items[: len(items) - limit]


@dataclass(frozen=True)
class Hit:
    """One webhook call as the receiver saw it."""

    key: str
    event: str
    body: dict[str, Any]
    verified: bool
    status: int
    system: str = ""
    received_at: datetime = field(default_factory=_now)


@dataclass
class WebhookReceiver:
    """An ASGI webhook receiver under uvicorn that answers as scripted and records every call.

    `script` holds the next answers: an int is a status code, a float a delay (seconds) before
    answering 200. When it is empty, `default` answers (a status code) after `delay_s`. With
    `refuse_unverified`, a call whose signature does not verify is answered 401 instead.
    """

    secret: str
    port: int = field(default_factory=free_port)
    default: int = 200
    delay_s: float = 0.0
    refuse_unverified: bool = False
    limit: int | None = None
    script: deque[int | float] = field(default_factory=deque)
    hits: list[Hit] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, system: str) -> str:
        """The callback URL of a source system on this receiver."""
        return f"http://{HOST}:{self.port}/webhooks/{system}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
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
        answer = self.script.popleft() if self.script else self.default
        status = 200 if isinstance(answer, float) else answer
        if self.refuse_unverified and not verified:
            status = 401
        self.hits.append(
            Hit(
                key=headers.get(notifications.HEADER_IDEMPOTENCY_KEY.lower(), ""),
                event=headers.get(notifications.HEADER_EVENT.lower(), ""),
                body=_json_object(body),
                verified=verified,
                status=status,
                system=str(scope["path"]).rsplit("/", 1)[-1],
            )
        )
        _trim(self.hits, self.limit)
        if isinstance(answer, float) or self.delay_s:
            await asyncio.sleep(answer if isinstance(answer, float) else self.delay_s)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def start(self) -> None:
        """Starts serving on loopback."""
        config = uvicorn.Config(
            self, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(500):
            if self._server.started:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("webhook receiver did not start")

    async def stop(self) -> None:
        """Stops serving."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._server = self._task = None

    def delivered(self) -> list[Hit]:
        """Calls answered with a 2xx."""
        return [hit for hit in self.hits if 200 <= hit.status < 300]


def _json_object(body: bytes) -> dict[str, Any]:
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(body)
        if isinstance(parsed, dict):
            return parsed
    return {}


@dataclass(frozen=True)
class Mail:
    """One e-mail as the SMTP server accepted it."""

    message_id: str
    to: str
    kind: str
    customer_id: str
    subject: str
    text: str
    issue_id: str = ""
    idempotency_key: str = ""
    received_at: datetime = field(default_factory=_now)


class MailHandler:
    """aiosmtpd handler: answers as scripted ("451 ..." strings) and records what it accepts.

    `sessions` holds every connection that sent a message. With `one_message_per_session`,
    a second MAIL FROM on a connection is answered 421 and the connection closed, as servers
    with a per-session limit or an idle timeout do; with `hang_up_after_data`, the server
    closes the connection right after accepting each message.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.script: deque[str] = deque()
        self.default: str = "250 OK"
        self.accepted: list[Mail] = []
        self.limit = limit
        self.attempts = 0
        self.sessions: dict[int, Any] = {}  # holding them keeps the ids unique
        self.one_message_per_session = False
        self.hang_up_after_data = False
        self.refused_as_closing = 0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Opens an envelope, unless the session already carried a message and may not."""
        if self.one_message_per_session and id(session) in self.sessions:
            self.refused_as_closing += 1
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 one message per session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accepts or refuses one message."""
        self.attempts += 1
        if self.limit is None:
            self.sessions[id(session)] = session
        if self.hang_up_after_data:
            asyncio.get_running_loop().call_soon(server.transport.close)
        answer = self.script.popleft() if self.script else self.default
        if not answer.startswith("250"):
            return answer
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        self.accepted.append(
            Mail(
                message_id=str(parsed["Message-ID"]),
                to=", ".join(envelope.rcpt_tos),
                kind=str(parsed[notifications.MAIL_HEADER_KIND]),
                customer_id=str(parsed[notifications.MAIL_HEADER_CUSTOMER]),
                subject=str(parsed["Subject"]),
                text=body.get_content() if body is not None else "",
                issue_id=str(parsed[notifications.MAIL_HEADER_ISSUE]),
                idempotency_key=str(parsed[notifications.MAIL_HEADER_IDEMPOTENCY_KEY]),
            )
        )
        _trim(self.accepted, self.limit)
        return answer


class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback that can go down and come back on its port."""

    def __init__(self, port: int | None = None, *, limit: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = MailHandler(limit)
        self._controller: Controller | None = None

    def start(self) -> None:
        """Starts listening."""
        self._controller = Controller(self.handler, hostname=HOST, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stops listening (connections are refused until started again)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class Message:
    """One notification a customer received, by either channel."""

    channel: str
    kind: str
    customer_id: str
    issue_id: str
    idempotency_key: str


SINKS_SECRET = "e2e-webhook-secret"


@dataclass
class Sinks:
    """Both receivers together, as the customers' side of the whole loop (end-to-end runs).

    Webhooks whose signature does not verify are refused (401) and counted in `refused`.
    """

    webhook: WebhookReceiver = field(
        default_factory=lambda: WebhookReceiver(secret=SINKS_SECRET, refuse_unverified=True)
    )
    smtp: SmtpServer = field(default_factory=SmtpServer)

    @property
    def webhook_port(self) -> int:
        """The webhook receiver's port."""
        return self.webhook.port

    @property
    def smtp_port(self) -> int:
        """The SMTP server's port."""
        return self.smtp.port

    @property
    def messages(self) -> list[Message]:
        """Every notification received: verified webhooks, then accepted e-mails."""
        hooks = [
            Message(
                "webhook",
                h.body.get("kind", ""),
                h.body.get("customer_id", ""),
                h.body.get("issue_id", ""),
                h.key,
            )
            for h in self.webhook.hits
            if h.verified
        ]
        mails = [
            Message("email", m.kind, m.customer_id, m.issue_id, m.idempotency_key)
            for m in self.smtp.handler.accepted
        ]
        return hooks + mails

    @property
    def refused(self) -> int:
        """Webhook calls refused for a bad signature."""
        return sum(not h.verified for h in self.webhook.hits)

    def notify_env(self) -> dict[str, str]:
        """Notify's settings that point its webhooks and e-mail here."""
        systems = {"shop": {"callback_url": self.webhook.url("shop")}}
        return {
            "FEEDLOOP_NOTIFY_SOURCE_SYSTEMS": orjson.dumps(systems).decode(),
            "FEEDLOOP_NOTIFY_WEBHOOK_SIGNING_SECRET": self.webhook.secret,
            "FEEDLOOP_NOTIFY_SMTP_HOST": HOST,
            "FEEDLOOP_NOTIFY_SMTP_PORT": str(self.smtp.port),
            "FEEDLOOP_NOTIFY_SMTP_SECURITY": "none",
        }

    def received(self, kind: str) -> Counter[str]:
        """Messages of one kind per customer, deliveries repeated by key counted once."""
        unique = {m.idempotency_key: m for m in self.messages if m.kind == kind}
        return Counter(m.customer_id for m in unique.values())

    def deliveries(self, kind: str) -> Counter[str]:
        """Messages of one kind per customer, every delivery counted."""
        return Counter(m.customer_id for m in self.messages if m.kind == kind)


@contextlib.asynccontextmanager
async def running_sinks(sinks: Sinks | None = None) -> AsyncIterator[Sinks]:
    """Starts both receivers on loopback for the block."""
    sinks = sinks or Sinks()
    sinks.smtp.start()
    try:
        await sinks.webhook.start()
        try:
            yield sinks
        finally:
            await sinks.webhook.stop()
    finally:
        sinks.smtp.stop()
