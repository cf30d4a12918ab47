"""Replies to the List-Unsubscribe mailto: a small SMTP listener (aiosmtpd), off by default.

The company's MX (or a forward) routes mail for the unsubscribe address to it
(`FEEDLOOP_SOLICIT_INBOUND_SMTP_PORT`). A message opts its customer out exactly as the one-click
link does when it carries a genuine unsubscribe token: in its subject ("unsubscribe <token>",
as the mailto writes it; a "Re:" in front is fine) or in the recipient
(unsubscribe+<token>@domain). Only the headers are read; the token's signature is what
authorises it, not the sender's address.

Bounds: messages over `inbound_max_bytes` are refused (552) while they stream in, an idle
connection is closed after `inbound_timeout_s`, and at most `inbound_per_minute` messages per
client address (and `inbound_overall_per_minute` from everyone) are taken per minute; more are
answered 451 (try later). A message without a valid token is answered 550, so the relaying MTA
bounces it to whoever wrote it instead of it vanishing.
"""

import asyncio
import email.parser
import email.policy
import logging
import time
from collections import OrderedDict
from typing import Any, Final

from aiosmtpd.smtp import SMTP, Envelope, Session
from feedloop.common.events import utcnow
from feedloop.common.links import LinkInvalid, LinkSigner
from feedloop.common.mail.headers import token_in_reply
from feedloop.solicit.compose import UNSUBSCRIBE_PURPOSE
from feedloop.solicit.optout import opt_out_invitation
from feedloop.solicit.settings import SolicitSettings
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MAX_PEERS: Final = 10_000
"""Client addresses the rate limit remembers (least recently seen forgotten first)."""
MAX_RECIPIENTS: Final = 10

REPLIES = Counter(
    "feedloop_solicit_unsubscribe_replies_total",
    "Messages to the unsubscribe mailbox by result",
    ["result"],
)


class MinuteWindows:
    """Counts messages per client address in fixed one-minute windows (bounded memory)."""

    def __init__(self, *, per_peer: int, overall: int) -> None:
        self.per_peer = per_peer
        self.overall = overall
        self._window = -1
        self._peers: OrderedDict[str, int] = OrderedDict()
        self._total = 0

    def admit(self, peer: str, now: float | None = None) -> bool:
        """Counts one message from `peer`; False when its (or everyone's) minute is full."""
        window = int((time.monotonic() if now is None else now) // 60)
        if window != self._window:
            self._window, self._total = window, 0
            self._peers.clear()
        seen = self._peers.pop(peer, 0)
        self._peers[peer] = seen
        while len(self._peers) > MAX_PEERS:
            self._peers.popitem(last=False)
        if seen >= self.per_peer or self._total >= self.overall:
            return False
        self._peers[peer] = seen + 1
        self._total += 1
        return True


class UnsubscribeMailbox:
    """aiosmtpd handler: each message with a genuine token opts its customer out."""

    def __init__(self, *, engine: AsyncEngine, signer: LinkSigner, limit: MinuteWindows) -> None:
        self.engine = engine
        self.signer = signer
        self.limit = limit

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Opens an envelope unless the client has sent its share this minute."""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        if not self.limit.admit(peer):
            REPLIES.labels("rate_limited").inc()
            return "451 4.7.1 too many messages; try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Takes up to MAX_RECIPIENTS recipients."""
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Reads the token from the headers and opts the customer out."""
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
        token = token_in_reply(str(headers.get("Subject", "")), list(envelope.rcpt_tos))
        if token is None:
            REPLIES.labels("no_token").inc()
            return "550 5.7.1 no unsubscribe token in the subject or address"
        try:
            invitation_id = self.signer.verify(token, purpose=UNSUBSCRIBE_PURPOSE).subject
        except LinkInvalid as exc:  # expired ones too: a year after the mail, ask again
            REPLIES.labels("invalid").inc()
            return f"550 5.7.1 unsubscribe token not accepted: {exc}"
        try:
            await opt_out_invitation(self.engine, invitation_id, utcnow())
        except Exception:  # the store is down: the relaying MTA tries again later
            log.exception("unsubscribe reply not stored", extra={"invitation": invitation_id})
            REPLIES.labels("retry").inc()
            return "451 4.3.0 not stored; try again later"
        REPLIES.labels("opted_out").inc()
        log.info("unsubscribed by mail", extra={"invitation": invitation_id})
        return "250 OK: unsubscribed"


async def start_listener(
    settings: SolicitSettings, engine: AsyncEngine, signer: LinkSigner
) -> asyncio.Server:
    """Starts the listener on `inbound_smtp_host:inbound_smtp_port` (0: a free port)."""
    handler = UnsubscribeMailbox(
        engine=engine,
        signer=signer,
        limit=MinuteWindows(
            per_peer=settings.inbound_per_minute, overall=settings.inbound_overall_per_minute
        ),
    )

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=settings.inbound_max_bytes,
            enable_SMTPUTF8=True,
            hostname=settings.mailto.rpartition("@")[2] or None,
            timeout=settings.inbound_timeout_s,
            command_call_limit=50,
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        protocol, host=settings.inbound_smtp_host, port=settings.inbound_smtp_port
    )
