"""Real receivers on loopback for the tests: an HTTP webhook receiver and an SMTP server."""

import asyncio
import contextlib
import email
import email.policy
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from aiosmtpd.controller import Controller
from feedloop.common import notifications
from starlette.types import Receive, Scope, Send


def free_port() -> int:
    """Returns a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Hit:
    """One webhook call as the receiver saw it."""

    key: str
    event: str
    body: dict[str, Any]
    verified: bool
    status: int


@dataclass
class WebhookReceiver:
    """An ASGI webhook receiver under uvicorn that answers as scripted and records every call.

    `script` holds the next answers: an int is a status code, a float a delay (seconds) before
    answering 200. When it is empty, `default` answers (a status code) after `delay_s`.
    """

    secret: str
    port: int = field(default_factory=free_port)
    default: int = 200
    delay_s: float = 0.0
    script: deque[int | float] = field(default_factory=deque)
    hits: list[Hit] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, system: str) -> str:
        """The callback URL of a source system on this receiver."""
        return f"http://127.0.0.1:{self.port}/webhooks/{system}"

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
        answer = self.script.popleft() if self.script else self.default
        status = 200 if isinstance(answer, float) else answer
        self.hits.append(
            Hit(
                key=headers.get(notifications.HEADER_IDEMPOTENCY_KEY.lower(), ""),
                event=headers.get(notifications.HEADER_EVENT.lower(), ""),
                body=orjson.loads(body),
                verified=notifications.verify(
                    self.secret,
                    timestamp=headers.get(notifications.HEADER_TIMESTAMP.lower()),
                    signature=headers.get(notifications.HEADER_SIGNATURE.lower()),
                    body=body,
                ),
                status=status,
            )
        )
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
        sock.bind(("127.0.0.1", self.port))
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


@dataclass(frozen=True)
class Mail:
    """One e-mail as the SMTP server accepted it."""

    message_id: str
    to: str
    kind: str
    customer_id: str
    subject: str
    text: str


class MailHandler:
    """aiosmtpd handler: answers as scripted ("451 ..." strings) and records what it accepts.

    `sessions` holds every connection that sent a message. With `one_message_per_session`,
    a second MAIL FROM on a connection is answered 421 and the connection closed, as servers
    with a per-session limit or an idle timeout do; with `hang_up_after_data`, the server
    closes the connection right after accepting each message.
    """

    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.default: str = "250 OK"
        self.accepted: list[Mail] = []
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
            )
        )
        return answer


class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback that can go down and come back on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = MailHandler()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Starts listening."""
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stops listening (connections are refused until started again)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
