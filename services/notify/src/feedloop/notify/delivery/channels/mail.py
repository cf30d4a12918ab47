"""E-mail over SMTP (aiosmtplib): plain text with an HTML alternative, deterministic Message-ID.

Every message carries List-Unsubscribe (an https link with a signed token, and a mailto) and
List-Unsubscribe-Post (RFC 8058 one-click), Content-Language, and a DKIM signature when a key
is configured; it is flattened to bytes once, signed, and those bytes are sent.

Temporary failures (4xx replies, timeouts, refused or dropped connections, authentication
errors that an operator can fix) are retried; 5xx replies for the recipient or the message
fail at once.
"""

import email.policy
import functools
import re
import time
import uuid
from email import quoprimime
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib
from feedloop.common import notifications
from feedloop.common.mail.dkim import DkimSigner
from feedloop.common.mail.wire import WIRE as _WIRE
from feedloop.common.mail.wire import WireMessage, wire_message
from feedloop.notify.delivery.channels import Outgoing, SendResult, Verdict
from feedloop.notify.delivery.channels.smtp_pool import SmtpPool
from feedloop.notify.delivery.list_unsubscribe import ONE_CLICK, UnsubscribeLinks
from feedloop.notify.delivery.render import Rendered
from feedloop.notify.settings import NotifySettings

__all__ = ["EmailChannel", "build_message", "fast_wire", "message_id", "wire_message"]

# A header value the fast path writes as it is: printable ASCII, no line breaks, no edge spaces.
_PLAIN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,900}[\x21-\x7e])?")


def message_id(delivery_id: str, domain: str) -> str:
    """Returns the Message-ID of a delivery: the same on every attempt, so receivers dedupe."""
    return f"<{delivery_id}@{domain}>"


def build_message(
    item: Outgoing,
    rendered: Rendered,
    settings: NotifySettings,
    *,
    list_unsubscribe: str | None = None,
) -> EmailMessage:
    """Returns the e-mail of one notification (with its List-Unsubscribe value, if given)."""
    assert item.email is not None
    message = EmailMessage()
    message["From"] = _header("From", settings.mail_from)
    message["To"] = item.email
    message["Subject"] = _header("Subject", rendered.subject)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(item.delivery_id, settings.message_id_domain)
    # RFC 3834: an automatic message; auto-responders must not answer it.
    message["Auto-Submitted"] = _header("Auto-Submitted", "auto-generated")
    message[notifications.MAIL_HEADER_KIND] = _header(notifications.MAIL_HEADER_KIND, item.kind)
    message[notifications.MAIL_HEADER_CUSTOMER] = item.customer_id
    message[notifications.MAIL_HEADER_ISSUE] = item.issue_id
    message[notifications.MAIL_HEADER_IDEMPOTENCY_KEY] = item.delivery_id
    if list_unsubscribe is not None:
        # RFC 2369 and RFC 8058: mailbox providers show an unsubscribe button that POSTs
        # "List-Unsubscribe=One-Click" to the https link (feedloop.notify.unsubscribe).
        message["List-Unsubscribe"] = list_unsubscribe
        message["List-Unsubscribe-Post"] = _header("List-Unsubscribe-Post", ONE_CLICK)
    body = _body(rendered.text, rendered.html)
    # The body's parts are shared, never changed: generating a message copies what it alters.
    for name, value in body.raw_items():
        message[name] = value
    # RFC 3282: the language the templates were rendered in (a locale falls back to its base).
    message["Content-Language"] = _header("Content-Language", rendered.locale)
    message.set_payload(
        list(payload) if isinstance(payload := body.get_payload(), list) else payload
    )
    return message


@functools.lru_cache(maxsize=256)
def _header(name: str, value: str) -> BaseHeader:
    """A parsed header, for values that repeat (sender, subjects, kinds): parsing is slow."""
    header: BaseHeader = email.policy.default.header_factory(name, value)
    return header


@functools.lru_cache(maxsize=64)
def _body(text: str, html: str | None) -> EmailMessage:
    """The MIME body of a text (and HTML) message; most recipients of a round share one."""
    # set_content drops earlier Content-* headers, so a Content-Language set before it never
    # reached the wire; the body alone is built here, and the message carries what it did.
    # 7-bit on the wire whatever the server supports, so the signed bytes are the sent bytes.
    body = EmailMessage()
    body.set_content(text, cte=None if text.isascii() else "quoted-printable")
    if html:
        body.add_alternative(
            html, subtype="html", cte=None if html.isascii() else "quoted-printable"
        )
    return body


def fast_wire(
    item: Outgoing, rendered: Rendered, settings: NotifySettings, *, list_unsubscribe: str
) -> bytes | None:
    """The bytes `build_message` flattens to, written directly; None when a value needs the
    email package (non-ASCII addresses or ids, line breaks), which then builds the message.

    Building and flattening an EmailMessage parses every header and walks the MIME tree for
    each message; here only the varying headers are written, the rest is flattened once.
    """
    plain = (item.email, item.customer_id, item.issue_id, item.delivery_id, list_unsubscribe)
    if not all(value and _PLAIN.fullmatch(value) for value in plain):
        return None
    mid = message_id(item.delivery_id, settings.message_id_domain)
    head = (
        f"{_folded('From', settings.mail_from)}To: {item.email}\r\n"
        f"{_folded('Subject', rendered.subject)}Date: {_date(int(time.time()))}\r\n"
        f"Message-ID: {mid}\r\nAuto-Submitted: auto-generated\r\n"
        f"{_folded(notifications.MAIL_HEADER_KIND, item.kind)}"
        f"{notifications.MAIL_HEADER_CUSTOMER}: {item.customer_id}\r\n"
        f"{notifications.MAIL_HEADER_ISSUE}: {item.issue_id}\r\n"
        f"{notifications.MAIL_HEADER_IDEMPOTENCY_KEY}: {item.delivery_id}\r\n"
        f"List-Unsubscribe: {list_unsubscribe}\r\nList-Unsubscribe-Post: {ONE_CLICK}\r\n"
        f"{_folded('Content-Language', rendered.locale)}"
    )
    return head.encode("ascii") + _body_bytes(rendered.text, rendered.html)


@functools.lru_cache(maxsize=512)
def _folded(name: str, value: str) -> str:
    """A header line as the wire policy folds it (encoded words for non-ASCII)."""
    return _header(name, value).fold(policy=_WIRE)


@functools.lru_cache(maxsize=4)
def _date(second: int) -> str:
    return formatdate(second, localtime=False, usegmt=True)


def _body_bytes(text: str, html: str | None) -> bytes:
    """The MIME body (MIME-Version, its Content-* headers, a blank line, the parts), written
    directly: the texts name each customer's feedback, so bodies are rarely shared, and the
    email package's set_content and flattening cost milliseconds per message."""
    if html is None:
        return b"MIME-Version: 1.0\r\n" + _part("plain", text)
    boundary = "=_feedloop_" + uuid.uuid4().hex
    return b"".join(
        [
            b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=",
            f'"{boundary}"\r\n\r\n--{boundary}\r\n'.encode("ascii"),
            _part("plain", text),
            f"\r\n--{boundary}\r\n".encode("ascii"),
            _part("html", html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ]
    )


def _part(subtype: str, content: str) -> bytes:
    """One text part: 7bit when it is short-lined ASCII, else quoted-printable (UTF-8)."""
    lines = content.splitlines()
    if content.isascii() and all(len(line) <= 998 for line in lines):
        encoded, cte = "\r\n".join(lines), "7bit"
    else:
        as_bytes = content.encode("utf-8").decode("latin-1")  # one character per byte
        encoded = quoprimime.body_encode(as_bytes, maxlinelen=76, eol="\r\n")
        encoded = encoded.removesuffix("\r\n")
        cte = "quoted-printable"
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}'
    return f"{head}\r\n\r\n{encoded}\r\n".encode("ascii")


class EmailChannel:
    """Sends notifications through the configured SMTP server."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.pool: SmtpPool | None = None
        self.links: UnsubscribeLinks | None = None
        self.dkim: DkimSigner | None = None
        self._sender = parseaddr(settings.mail_from)[1]
        server = settings.smtp_server
        if server is not None:
            missing = settings.missing_for_mail()
            if missing:
                raise ValueError(f"e-mail needs {' and '.join(missing)} (unsubscribe links)")
            self.links = UnsubscribeLinks(settings, mail_from=settings.mail_from)
            self.dkim = DkimSigner.from_settings(settings, mail_from=settings.mail_from)
            security = settings.effective_smtp_security
            password = settings.smtp_password
            self.pool = SmtpPool(
                size=settings.send_concurrency,
                idle_s=settings.smtp_session_idle_s,
                max_messages=settings.smtp_session_max_messages,
                hostname=server[0],
                port=server[1],
                use_tls=security == "tls",
                start_tls=security == "starttls",
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=settings.smtp_timeout_s,
            )

    async def close(self) -> None:
        """Ends the pooled SMTP sessions."""
        if self.pool is not None:
            await self.pool.aclose()

    async def send(self, item: Outgoing, rendered: Rendered) -> SendResult:
        """Sends one e-mail; never raises for the server's failures."""
        if self.pool is None or self.links is None or item.email is None:
            return SendResult("permanent", "no SMTP server or no address")
        return await self.send_wire(self.wire(item, rendered))

    async def send_wire(self, wire: WireMessage) -> SendResult:
        """Sends a message as it goes on the wire; never raises for the server's failures."""
        if self.pool is None:
            return SendResult("permanent", "no SMTP server")
        started = time.perf_counter()
        try:
            await self.pool.send(wire)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return SendResult("retry", f"SMTP auth: {exc}"[:500], None, _since(started))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            verdict: Verdict = "permanent" if all(c >= 500 for c in codes) else "retry"
            return SendResult(verdict, f"recipient refused: {exc}"[:500], None, _since(started))
        except aiosmtplib.SMTPResponseException as exc:
            code_verdict: Verdict = "permanent" if exc.code >= 500 else "retry"
            return SendResult(
                code_verdict, f"SMTP {exc.code}: {exc.message}"[:500], None, _since(started)
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult("retry", f"{type(exc).__name__}: {exc}"[:500], None, _since(started))
        return SendResult("delivered", duration_s=_since(started))

    def wire(self, item: Outgoing, rendered: Rendered) -> WireMessage:
        """The message of one delivery as it goes on the wire (signed when DKIM is on)."""
        assert self.links is not None and item.email is not None
        unsubscribe = self.links.header(item.customer_id)
        data = None
        if self._sender.isascii():
            data = fast_wire(item, rendered, self.settings, list_unsubscribe=unsubscribe)
        if data is None:
            message = build_message(item, rendered, self.settings, list_unsubscribe=unsubscribe)
            return wire_message(message, self.dkim)
        if self.dkim is not None:
            data = self.dkim.sign(data)
        return WireMessage(self._sender, [item.email], data)


def _since(started: float) -> float:
    return time.perf_counter() - started
