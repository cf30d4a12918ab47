"""E-mail over SMTP (aiosmtplib): plain text with an HTML alternative, deterministic Message-ID.

Temporary failures (4xx replies, timeouts, refused or dropped connections, authentication
errors that an operator can fix) are retried; 5xx replies for the recipient or the message
fail at once.
"""

import time
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from feedloop.common import notifications
from feedloop.notify.channels import Outgoing, SendResult, Verdict
from feedloop.notify.render import Rendered
from feedloop.notify.settings import NotifySettings


def message_id(delivery_id: str, domain: str) -> str:
    """Returns the Message-ID of a delivery: the same on every attempt, so receivers dedupe."""
    return f"<{delivery_id}@{domain}>"


def build_message(item: Outgoing, rendered: Rendered, settings: NotifySettings) -> EmailMessage:
    """Returns the e-mail of one notification."""
    assert item.email is not None
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = item.email
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(item.delivery_id, settings.message_id_domain)
    message["Content-Language"] = rendered.locale
    # RFC 3834: an automatic message; auto-responders must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message[notifications.MAIL_HEADER_KIND] = item.kind
    message[notifications.MAIL_HEADER_CUSTOMER] = item.customer_id
    message[notifications.MAIL_HEADER_ISSUE] = item.issue_id
    message[notifications.MAIL_HEADER_IDEMPOTENCY_KEY] = item.delivery_id
    message.set_content(rendered.text)
    if rendered.html:
        message.add_alternative(rendered.html, subtype="html")
    return message


class EmailChannel:
    """Sends notifications through the configured SMTP server."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    async def send(self, item: Outgoing, rendered: Rendered) -> SendResult:
        """Sends one e-mail; never raises for the server's failures."""
        server = self.settings.smtp_server
        if server is None or item.email is None:
            return SendResult("permanent", "no SMTP server or no address")
        security = self.settings.effective_smtp_security
        password = self.settings.smtp_password
        started = time.perf_counter()
        try:
            await aiosmtplib.send(
                build_message(item, rendered, self.settings),
                hostname=server[0],
                port=server[1],
                use_tls=security == "tls",
                start_tls=security == "starttls",
                username=self.settings.smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=self.settings.smtp_timeout_s,
            )
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
