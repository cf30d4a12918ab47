"""A small pool of long-lived SMTP sessions, reused across messages.

Connecting, EHLO, STARTTLS and AUTH happen once per session instead of once per message. At
most `size` sessions exist at a time (idle or in use); the most recently used idle one is
taken first, and one idle longer than `idle_s` or done with `max_messages` is closed.

Reuse must not change what an attempt means. A pooled session may have been closed by the
server while it idled (a timeout, a per-session limit): that shows before the envelope is
open, as a dropped connection or a 421 reply, when no part of the message has gone out; the
message is then sent on a fresh session within the same attempt, exactly as if that attempt
had connected anew. Any other failure closes the session and is the attempt's result, as it
was with one session per message: a message whose DATA may have reached the server is never
sent again here, only by the queue's retry under the same Message-ID. A session goes back to
the pool only after a transaction that succeeded, so no half-finished envelope is reused.
"""

import asyncio
import contextlib
import socket
import time
from collections import deque
from typing import Any

import aiosmtplib
from aiosmtplib import SMTPResponse
from feedloop.common.mail.wire import WireMessage

CLOSING = 421  # "service not available, closing transmission channel"


class Session(aiosmtplib.SMTP):
    """An SMTP client session that records whether its current envelope was opened."""

    reused = False
    enveloped = False
    messages = 0
    idle_since = 0.0

    async def mail(self, sender: str, /, **kwargs: Any) -> SMTPResponse:
        """Sends MAIL FROM; remembers that the envelope is open once the server took it."""
        response = await super().mail(sender, **kwargs)
        self.enveloped = True
        return response


def stale(session: Session, exc: BaseException) -> bool:
    """True when a reused session failed before its envelope opened: nothing was sent."""
    if not session.reused or session.enveloped:
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == CLOSING
    return isinstance(exc, ConnectionError)


class SmtpPool:
    """Long-lived SMTP sessions to one server, lent to one message at a time."""

    def __init__(
        self,
        *,
        size: int,
        idle_s: float,
        max_messages: int,
        **connect: Any,
    ) -> None:
        self.size = size
        self.idle_s = idle_s
        self.max_messages = max_messages
        self.connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: deque[Session] = deque()
        self._local_hostname: str | None = None
        self._closed = False
        self.opened = 0

    async def send(self, message: WireMessage) -> None:
        """Sends one message on a pooled or fresh session; raises what aiosmtplib raises."""
        async with self._slots:
            session = self._take()
            if session is not None:
                try:
                    await self._transact(session, message)
                    return
                except Exception as exc:
                    if not stale(session, exc):
                        raise
            await self._transact(await self._open(), message)

    async def aclose(self) -> None:
        """Says QUIT to every idle session and closes it; sessions in use close when returned."""
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        await asyncio.gather(*(self._quit(s) for s in idle))

    def _take(self) -> Session | None:
        """The most recently used live idle session; closes the expired ones on the way."""
        deadline = time.monotonic() - self.idle_s
        while self._idle and self._idle[0].idle_since < deadline:
            self._idle.popleft().close()
        while self._idle:
            session = self._idle.pop()
            if session.is_connected:
                session.reused = True
                return session
            session.close()
        return None

    async def _open(self) -> Session:
        if self._local_hostname is None:  # aiosmtplib would look it up on every connect
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        session = Session(local_hostname=self._local_hostname, **self.connect)
        try:
            await session.connect()
        except BaseException:
            session.close()
            raise
        self.opened += 1
        return session

    async def _transact(self, session: Session, message: WireMessage) -> None:
        session.enveloped = False
        try:
            await session.sendmail(
                message.sender,
                message.recipients,
                message.data,
                mail_options=message.mail_options,
            )
        except BaseException:
            session.close()
            raise
        session.messages += 1
        if self._closed or session.messages >= self.max_messages:
            await self._quit(session)
        else:
            session.idle_since = time.monotonic()
            self._idle.append(session)

    @staticmethod
    async def _quit(session: Session) -> None:
        with contextlib.suppress(Exception):
            await session.quit(timeout=min(5.0, session.timeout or 5.0))
        session.close()
