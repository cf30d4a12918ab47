"""A message as it goes on the wire: flattened once, DKIM-signed when a signer is given."""

import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Final

from feedloop.common.mail.dkim import DkimSigner

# Lines up to RFC 5322's 998 characters: a List-Unsubscribe URL is one long word, which the
# default 78 would turn into encoded words that no mailbox provider reads as a link.
WIRE: Final = email.policy.SMTP.clone(max_line_length=998)
WIRE_UTF8: Final = email.policy.SMTPUTF8.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A message as it goes on the wire: envelope and flattened (possibly signed) bytes."""

    sender: str
    recipients: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)


def wire_message(message: EmailMessage, dkim: DkimSigner | None = None) -> WireMessage:
    """Flattens a message to the bytes sent (DKIM-signed when a signer is given)."""
    sender = parseaddr(str(message["From"]))[1]
    recipient = parseaddr(str(message["To"]))[1]
    utf8 = not (sender + recipient).isascii()
    data = message.as_bytes(policy=WIRE_UTF8 if utf8 else WIRE)
    if dkim is not None:
        data = dkim.sign(data)
    return WireMessage(sender, [recipient], data, ["SMTPUTF8"] if utf8 else [])
