"""DKIM signatures (RFC 6376) on outgoing e-mail, with dkimpy, when a key is configured.

The message is flattened to bytes once, signed, and exactly those bytes go on the wire, so no
re-folding after signing can break the signature. Relaxed/relaxed canonicalisation; the signed
headers include List-Unsubscribe and List-Unsubscribe-Post, as RFC 8058 requires for one-click.
"""

from pathlib import Path
from typing import Final

import dkim
from feedloop.common.mail.settings import DkimSettings, sender_domain

SIGNED_HEADERS: Final = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-language",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"auto-submitted",
)


class DkimSigner:
    """Signs messages for one domain with one selector and RSA key."""

    def __init__(self, *, selector: str, domain: str, private_key: bytes) -> None:
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self.private_key = private_key
        # A bad key fails here, when the channel starts, not on the first message.
        self.sign(b"From: a@" + self.domain + b"\r\nSubject: key check\r\n\r\nkey check\r\n")

    @classmethod
    def from_settings(cls, settings: DkimSettings, *, mail_from: str) -> "DkimSigner | None":
        """Returns the signer the settings configure, or None when mail is not signed."""
        if settings.dkim_selector is None:
            return None
        if settings.dkim_private_key is not None:
            pem = settings.dkim_private_key.get_secret_value().encode("ascii")
        else:
            assert settings.dkim_private_key_file is not None
            pem = Path(settings.dkim_private_key_file).read_bytes()
        domain = settings.dkim_domain or sender_domain(mail_from)
        return cls(selector=settings.dkim_selector, domain=domain, private_key=pem)

    def sign(self, message: bytes) -> bytes:
        """Returns the message with its DKIM-Signature header in front."""
        signature: bytes = dkim.sign(
            message,
            self.selector,
            self.domain,
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + message
