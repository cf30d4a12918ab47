"""Settings of mail that arrives: the public unsubscribe link and the DKIM key (a mixin)."""

from typing import ClassVar, Self

from feedloop.common.links import LinkKeySettings
from feedloop.common.mail.settings import DkimSettings, sender_domain
from pydantic import Field, HttpUrl, model_validator

__all__ = ["MailAuthSettings", "sender_domain"]


class MailAuthSettings(LinkKeySettings, DkimSettings):
    """Mixin: where one-click unsubscribe links point, what signs them, how mail is DKIM-signed.

    Link keys and the public URL are needed only when e-mail is on: the e-mail channel refuses
    to start without them outside local and test mode (`missing_for_mail`).
    """

    link_keys_required: ClassVar[bool] = False

    public_url: HttpUrl | None = Field(
        default=None,
        description="Base URL at which customers reach notify's public routes (unsubscribe); "
        "default in local and test mode: http://<host>:<port>; required for e-mail elsewhere "
        "(https in prod).",
    )
    unsubscribe_mailto: str | None = Field(
        default=None,
        description="Address of the List-Unsubscribe mailto (default: unsubscribe@ the sender's "
        "domain); the mailbox behind it must opt the sender out (documented in the runbook).",
    )
    unsubscribe_link_days: int = Field(
        default=365, ge=1, le=400, description="How long an unsubscribe link keeps working."
    )
    unsubscribe_rate_per_s: float = Field(
        default=2.0, gt=0, description="One-click requests per second and client address."
    )
    unsubscribe_burst: int = Field(default=10, ge=1)

    @property
    def public_base_url(self) -> str:
        """The base of public links, without a trailing slash."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    def missing_for_mail(self) -> list[str]:
        """Names the settings e-mail needs here and lacks (none in local and test mode)."""
        if self.is_local:
            return []
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        needed = {"PUBLIC_URL": self.public_url, "LINK_KEYS": self.link_keys}
        return [prefix + name for name, value in needed.items() if not value]

    @model_validator(mode="after")
    def _public_url_https_in_prod(self) -> Self:
        if self.environment == "prod" and self.public_url and self.public_url.scheme != "https":
            raise ValueError("public_url must use https in prod")
        return self
