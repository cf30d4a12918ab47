"""Solicit settings, read from FEEDLOOP_SOLICIT_* variables."""

from typing import Self

from feedloop.common.links import LinkKeySettings
from feedloop.common.mail.settings import DkimSettings, sender_domain
from feedloop.common.settings import (
    ApiKeySettings,
    ConsumerSettings,
    OutboxSettings,
    SmtpSettings,
    StoreSettings,
)
from pydantic import Field, HttpUrl, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

SCOPE_WRITE = "touchpoints:write"
SCOPE_READ = "surveys:read"
SCOPE_ERASE = "customers:erase"

# `make run` with no configuration: the demo sinks (scripts/demo/sinks.py) receive everything.
DEMO_SINKS_URL = "http://127.0.0.1:8025"
DEMO_WEBHOOK_SECRET = "fl_dev_local_only_webhook_secret"


class SolicitSettings(
    StoreSettings,
    OutboxSettings,
    ApiKeySettings,
    LinkKeySettings,
    ConsumerSettings,
    SmtpSettings,
    DkimSettings,
):
    """How solicit takes touchpoints, invites customers, hosts surveys and counts answers."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDLOOP_SOLICIT_", frozen=True, extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "solicit"
    port: int = 8006
    database_url: str = "sqlite+aiosqlite:///.local/solicit.db"
    programs_file: str | None = Field(
        default=None, description="YAML survey programs; default: the shipped example programs."
    )
    public_base_url: HttpUrl = Field(
        default=HttpUrl("http://127.0.0.1:8006"),
        description="Where customers reach the survey pages (links in invitations).",
    )
    consumer_group: str = "feedloop-solicit"
    consume: bool = Field(
        default=True, description="Read customer-requests (erasure) in <consumer_group>-rights."
    )
    consume_touchpoints: bool = Field(
        default=True,
        description="Read the touchpoints topic in <consumer_group> (with consume on).",
    )
    max_batch: int = Field(default=1000, ge=1, le=10_000, description="Touchpoints per request.")

    # Sending
    send: bool = Field(default=True, description="Run the sender (off: schedule only).")
    send_poll_s: float = Field(default=1.0, gt=0)
    send_batch: int = Field(default=100, ge=1, le=1000)
    send_concurrency: int = Field(default=16, ge=1, le=256)
    lease_s: float = Field(default=120.0, gt=0, description="A claim older than this is retried.")
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    answer_settle_s: float = Field(
        default=600.0,
        ge=0,
        description="An answer may be changed this long after it was first given; then it goes "
        "to raw-feedback once (0: at once, and later answers are refused).",
    )

    # E-mail (SMTP server and sender: SmtpSettings; DKIM key: DkimSettings)
    message_id_domain: str = "solicit.feedloop.example"
    unsubscribe_mailto: str | None = Field(
        default=None,
        description="Address of the List-Unsubscribe mailto (default: unsubscribe@ the sender's "
        "domain); mail to it must reach the inbound listener (inbound_smtp_port).",
    )

    # Inbound: replies to the List-Unsubscribe mailto (feedloop.solicit.inbound)
    inbound_smtp_port: int | None = Field(
        default=None, ge=0, le=65535, description="None: no inbound listener (off by default)."
    )
    inbound_smtp_host: str = "127.0.0.1"
    inbound_max_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="Larger messages: 552."
    )
    inbound_timeout_s: float = Field(default=30.0, gt=0, le=300, description="Idle connection.")
    inbound_per_minute: int = Field(
        default=30, ge=1, description="Messages per minute and client address (then 451)."
    )
    inbound_overall_per_minute: int = Field(default=600, ge=1, description="From everyone.")

    # Webhooks (the originating system shows the survey in-app)
    webhooks: dict[str, HttpUrl] = Field(
        default_factory=dict, description="Callback URL per source system (JSON object)."
    )
    webhook_signing_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)

    def webhook_url(self, system: str) -> str | None:
        """The callback URL of a source system (local: the demo sink)."""
        if system in self.webhooks:
            return str(self.webhooks[system])
        if not self.webhooks and self.environment == "local":
            return f"{DEMO_SINKS_URL}/webhooks/{system}"
        return None

    @property
    def signing_secret(self) -> str | None:
        """The HMAC key of webhooks (local: the demo sink's)."""
        if self.webhook_signing_secret is not None:
            return self.webhook_signing_secret.get_secret_value()
        return DEMO_WEBHOOK_SECRET if self.environment == "local" else None

    @property
    def mailto(self) -> str:
        """The address replies to the List-Unsubscribe mailto go to."""
        return self.unsubscribe_mailto or f"unsubscribe@{sender_domain(self.mail_from)}"

    @model_validator(mode="after")
    def _safe_outside_local(self) -> Self:
        if self.lease_s <= max(self.smtp_timeout_s, self.webhook_timeout_s):
            raise ValueError("lease_s must exceed the SMTP and webhook timeouts")
        if self.is_local:
            return self
        if self.webhooks and self.webhook_signing_secret is None:
            raise ValueError("webhooks need FEEDLOOP_SOLICIT_WEBHOOK_SIGNING_SECRET")
        if self.environment == "prod" and self.public_base_url.scheme != "https":
            raise ValueError("public_base_url must use https in prod")
        return self
