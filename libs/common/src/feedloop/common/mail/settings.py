"""The DKIM settings every sending service has (a mixin), and the sender's domain."""

from email.utils import parseaddr
from typing import Self

from feedloop.common.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator


class DkimSettings(ServiceSettings):
    """Mixin: how outgoing mail is DKIM-signed (no selector: not signed)."""

    dkim_selector: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]{1,63}$", description="None: mail is not signed."
    )
    dkim_domain: str | None = Field(
        default=None, description="The signing domain (d=); default: the sender's domain."
    )
    dkim_private_key: SecretStr | None = Field(
        default=None, description="PEM RSA private key (or use dkim_private_key_file)."
    )
    dkim_private_key_file: str | None = None

    @model_validator(mode="after")
    def _dkim_complete(self) -> Self:
        has_key = bool(self.dkim_private_key or self.dkim_private_key_file)
        if has_key != bool(self.dkim_selector):
            raise ValueError("DKIM needs both a selector and a private key (or neither)")
        return self


def sender_domain(mail_from: str) -> str:
    """Returns the domain of a From address ("Care <care@shop.example>" -> "shop.example")."""
    return parseaddr(mail_from)[1].rpartition("@")[2].lower()
