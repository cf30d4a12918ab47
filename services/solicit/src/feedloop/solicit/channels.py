"""Sending one invitation or reminder: by e-mail (SMTP) or by a signed webhook.

Each message carries a key that stays the same across retries and restarts (`Idempotency-Key`
on webhooks, the Message-ID of e-mails), so a receiver drops the copy a sender killed between
sending and recording may send again.

E-mails carry List-Unsubscribe (the https one-click link and a mailto whose replies
feedloop.solicit.inbound reads), List-Unsubscribe-Post (RFC 8058), Content-Language, and a DKIM
signature when a key is configured (feedloop.common.mail): flattened once, signed, those bytes
sent.
"""

import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal, Protocol

import aiosmtplib
import httpx
import orjson
from feedloop.common import notifications
from feedloop.common.mail.dkim import DkimSigner
from feedloop.common.mail.headers import ONE_CLICK, list_unsubscribe
from feedloop.common.mail.wire import wire_message
from feedloop.solicit.settings import SolicitSettings

Kind = Literal["survey.invitation", "survey.reminder"]


@dataclass(frozen=True)
class Outgoing:
    """One message to one customer, rendered."""

    key: str
    kind: Kind
    customer_id: str
    source_system: str
    language: str
    email: str | None
    subject: str
    text: str
    survey_url: str
    unsubscribe_url: str
    unsubscribe_token: str
    payload: dict[str, Any]
    """What a webhook carries (the originating system shows the survey in-app)."""


class SendFailed(Exception):
    """The message did not go out; `permanent` when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Channel(Protocol):
    """Sends one message or raises SendFailed."""

    async def send(self, message: Outgoing) -> None:
        """Sends it."""


def mail_message(message: Outgoing, settings: SolicitSettings) -> EmailMessage:
    """The e-mail of a message: plain text, one-click unsubscribe (RFC 8058), its language."""
    mail = EmailMessage()
    # First: it drops every Content-* header set before it. 7-bit on the wire whatever the
    # server supports, so the signed bytes are the bytes that arrive.
    mail.set_content(message.text, cte=None if message.text.isascii() else "quoted-printable")
    mail["From"] = settings.mail_from
    mail["To"] = message.email or ""
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{message.key}@{settings.message_id_domain}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["Content-Language"] = message.language
    mail["List-Unsubscribe"] = list_unsubscribe(
        message.unsubscribe_url, settings.mailto, message.unsubscribe_token
    )
    mail["List-Unsubscribe-Post"] = ONE_CLICK
    mail[notifications.MAIL_HEADER_KIND] = message.kind
    mail[notifications.MAIL_HEADER_CUSTOMER] = message.customer_id
    mail[notifications.MAIL_HEADER_IDEMPOTENCY_KEY] = message.key
    return mail


class EmailChannel:
    """SMTP, one session per message (invitations are spread over time, not bursts)."""

    def __init__(self, settings: SolicitSettings) -> None:
        self.settings = settings
        # A bad key fails here, when the app starts, not on the first invitation.
        self.dkim = DkimSigner.from_settings(settings, mail_from=settings.mail_from)

    async def send(self, message: Outgoing) -> None:
        """Sends the e-mail (signed when DKIM is on); refused recipients are permanent failures."""
        server = self.settings.smtp_server
        if server is None:
            raise SendFailed("e-mail is not configured", permanent=True)
        if not message.email:
            raise SendFailed("no e-mail address", permanent=True)
        security = self.settings.effective_smtp_security
        password = self.settings.smtp_password
        wire = wire_message(mail_message(message, self.settings), self.dkim)
        try:
            await aiosmtplib.send(
                wire.data,
                sender=wire.sender,
                recipients=wire.recipients,
                mail_options=wire.mail_options,
                hostname=server[0],
                port=server[1],
                use_tls=security == "tls",
                start_tls=security == "starttls",
                username=self.settings.smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=self.settings.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendFailed(f"recipient refused: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"smtp: {type(exc).__name__}: {exc}") from exc


class WebhookChannel:
    """POSTs the survey to the originating system, HMAC-signed (feedloop.common.notifications)."""

    def __init__(self, settings: SolicitSettings) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.webhook_timeout_s)

    async def close(self) -> None:
        """Closes the HTTP client."""
        await self.client.aclose()

    async def send(self, message: Outgoing) -> None:
        """Sends the call; 4xx but 408/429 are permanent failures."""
        url = self.settings.webhook_url(message.source_system)
        secret = self.settings.signing_secret
        if url is None or secret is None:
            raise SendFailed(f"no webhook for {message.source_system!r}", permanent=True)
        body = orjson.dumps(message.payload)
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            notifications.HEADER_SIGNATURE: notifications.sign(secret, stamp, body),
            notifications.HEADER_TIMESTAMP: str(stamp),
            notifications.HEADER_IDEMPOTENCY_KEY: message.key,
            notifications.HEADER_EVENT: message.kind,
        }
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"webhook: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            permanent = 400 <= response.status_code < 500 and response.status_code not in (
                408,
                429,
            )
            raise SendFailed(f"webhook answered {response.status_code}", permanent=permanent)
