"""E-mail over SMTP (aiosmtplib): plain text with an HTML alternative, deterministic Message-ID.

Temporary failures (4xx replies, timeouts, refused or dropped connections, authentication
errors that an operator can fix) are retried; 5xx replies for the recipient or the message
fail at once.
"""

import email.policy
import functools
import time
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from feedloop.common import notifications
from feedloop.notify.delivery.channels import Outgoing, SendResult, Verdict
from feedloop.notify.delivery.channels.smtp_pool import SmtpPool
from feedloop.notify.delivery.render import Rendered
from feedloop.notify.settings import NotifySettings


def message_id(delivery_id: str, domain: str) -> str:
    """Returns the Message-ID of a delivery: the same on every attempt, so receivers dedupe."""
    return f"<{delivery_id}@{domain}>"


def build_message(item: Outgoing, rendered: Rendered, settings: NotifySettings) -> EmailMessage:
    """Returns the e-mail of one notification."""
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
    body = EmailMessage()
    body.set_content(text)
    if html:
        body.add_alternative(html, subtype="html")
    return body


class EmailChannel:
    """Sends notifications through the configured SMTP server."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.pool: SmtpPool | None = None
        server = settings.smtp_server
        if server is not None:
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
        if self.pool is None or item.email is None:
            return SendResult("permanent", "no SMTP server or no address")
        started = time.perf_counter()
        try:
            await self.pool.send(build_message(item, rendered, self.settings))
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


def _since(started: float) -> float:
    return time.perf_counter() - started
