"""Notify settings, read from FEEDLOOP_NOTIFY_* variables."""

import functools
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

import orjson
import yaml
from feedloop.common import topics
from feedloop.common.feedback import Channel
from feedloop.common.settings import (
    ApiKeySettings,
    ConsumerSettings,
    OutboxSettings,
    SmtpSettings,
    StoreSettings,
)
from feedloop.notify.alerts.settings import AlertSettings
from feedloop.notify.delivery.mail_settings import MailAuthSettings
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, TypeAdapter, model_validator
from pydantic_settings import SettingsConfigDict

SCOPE_READ = "notifications:read"
SCOPE_WRITE = "notifications:write"
SCOPE_ADMIN = "notifications:admin"
"""Resending and opting customers out or in: administrative, apart from ordinary writes."""
SCOPE_ERASE = "customers:erase"
"""Erasing a customer's contact data cannot be undone: a scope of its own."""

DeliveryChannel = Literal["webhook", "email"]
Severity = Literal["low", "medium", "high", "critical"]

# `make run` with no configuration: the demo sinks (scripts/demo/sinks.py) receive everything.
DEMO_SINKS_URL = "http://127.0.0.1:8025"
DEMO_SOURCE_SYSTEMS = ("shop",)
DEMO_WEBHOOK_SECRET = "fl_dev_local_only_webhook_secret"


class SourceSystem(BaseModel):
    """How to call an originating system back: its webhook URL and signing secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    callback_url: HttpUrl | None = Field(default=None, description="None: no webhook channel.")
    secret: SecretStr | None = Field(
        default=None, description="HMAC key; defaults to webhook_signing_secret."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class AckPolicy(BaseModel):
    """Who gets an immediate "we hear you" with a promised follow-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    severities: frozenset[Severity] = Field(
        default=frozenset({"high", "critical"}), description="Issues this severe: every reporter."
    )
    nps_detractor_max: int | None = Field(
        default=6, ge=0, le=10, description="NPS answers at most this (detractors); None: off."
    )
    sentiment_at_most: float | None = Field(
        default=None, ge=-1, le=1, description="Sentiment score at most this; None: off."
    )


class ThanksPolicy(BaseModel):
    """Who is thanked for praise, and how often; praise not thanked is closed `noted`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    nps_promoter_min: int | None = Field(
        default=9, ge=0, le=10, description="NPS answers at least this (promoters); None: off."
    )
    sentiment_at_least: float | None = Field(
        default=0.6, ge=-1, le=1, description="Positive texts scored at least this; None: off."
    )
    min_confidence: float = Field(
        default=0.8, ge=0, le=1, description="...and whose sentiment is at least this sure."
    )
    every_days: float = Field(
        default=30.0, gt=0, description="At most one thank-you per customer in this many days."
    )


_SYSTEMS = TypeAdapter(dict[str, SourceSystem])


class NotifySettings(
    StoreSettings,
    OutboxSettings,
    ApiKeySettings,
    ConsumerSettings,
    MailAuthSettings,
    SmtpSettings,
    AlertSettings,
):
    """How notify stores, routes, sends and retries customer notifications."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDLOOP_NOTIFY_", frozen=True, extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "notify"
    port: int = 8004
    consumer_group: str = topics.CONSUMER_GROUP_NOTIFY
    database_url: str = "sqlite+aiosqlite:///.local/notify.db"
    consume: bool = Field(default=True, description="Run the Kafka consumer (off: API only).")
    send: bool = Field(default=True, description="Run the sender (off: queue only).")

    # Routing
    source_systems: dict[str, SourceSystem] = Field(
        default_factory=dict, description="Webhook per source system (JSON object)."
    )
    source_systems_file: str | None = Field(
        default=None, description="YAML or JSON file of the same mapping (merged over it)."
    )
    webhook_signing_secret: SecretStr | None = None
    channel_order: tuple[DeliveryChannel, ...] = Field(
        default=("webhook", "email"), min_length=1, description="First available channel wins."
    )
    email_first_for: frozenset[Channel] = Field(
        default=frozenset({Channel.EMAIL}),
        description="Feedback from these channels is answered by e-mail first, when known.",
    )

    # E-mail (SMTP server and sender: SmtpSettings)
    smtp_session_idle_s: float = Field(
        default=30.0, gt=0, description="An SMTP session idle this long is closed, not reused."
    )
    smtp_session_max_messages: int = Field(
        default=100, ge=1, description="Messages per SMTP session before it is renewed."
    )
    message_id_domain: str = "notify.feedloop.example"

    # Content and policy
    templates_dir: str | None = Field(default=None, description="Overrides shipped templates.")
    default_locale: str = "en"
    ack: AckPolicy = AckPolicy()
    thanks: ThanksPolicy = ThanksPolicy()
    followup_links: bool = Field(
        default=True, description='Resolution messages ask "Is it fixed for you?" (signed link).'
    )
    daily_cap: int | None = Field(
        default=3, ge=1, description="Messages per customer per UTC day; None: no cap."
    )
    noted_quiet_period: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        le=timedelta(days=90),
        description="Remarks and unthanked praise close `noted` after this long (seconds or "
        "ISO 8601, e.g. PT24H), unless re-analysed into something owed meanwhile; 0: at once.",
    )

    # Sending
    max_attempts: int = Field(default=10, ge=1, le=100)
    backoff_base_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    lease_s: float = Field(default=120.0, gt=0, description="A claim older than this is retried.")
    send_concurrency: int = Field(default=32, ge=1, le=1000)
    send_poll_s: float = Field(default=1.0, gt=0)
    stop_grace_s: float = Field(default=15.0, ge=0)

    # Data rights (feedloop.notify.rights, rights_topics)
    erasure_scrub_s: float = Field(
        default=30.0, gt=0, description="How often confirmed erasures are cut from the topics."
    )
    erasure_topic_groups: dict[str, list[str]] | None = Field(
        default=None,
        description="Consumer groups that must have read a pipeline topic before records are "
        "cut from it, by logical topic (JSON); None: feedloop's own groups.",
    )
    export_prioritize_url: str | None = Field(
        default=None, description="prioritize's API, asked for its part of a data export."
    )
    export_prioritize_api_key: SecretStr | None = Field(
        default=None, description="A key with customers:export on prioritize."
    )

    # Retention (feedloop.notify.retention)
    retention_prune_s: float = Field(default=3600.0, gt=0, description="How often to prune.")
    retention_processed_days: float = Field(
        default=30.0,
        ge=8,
        description="Processed event ids kept this long: longer than `prioritized` keeps records "
        "(7 days), so a redelivered event is still recognised.",
    )
    retention_caps_days: float = Field(
        default=2.0, ge=1, description="Daily-cap counters kept this long (read on their day)."
    )

    @functools.cached_property
    def webhooks(self) -> dict[str, SourceSystem]:
        """Source systems by name: inline, then the file; the demo sinks in local mode."""
        systems = dict(self.source_systems)
        if self.source_systems_file:
            raw = Path(self.source_systems_file).read_text()
            loaded = (
                orjson.loads(raw)
                if self.source_systems_file.endswith(".json")
                else yaml.safe_load(raw)
            )
            systems |= _SYSTEMS.validate_python(loaded or {})
        if not systems and self.environment == "local":
            systems = {
                name: SourceSystem(callback_url=HttpUrl(f"{DEMO_SINKS_URL}/webhooks/{name}"))
                for name in DEMO_SOURCE_SYSTEMS
            }
        return systems

    def secret_of(self, system: str) -> str | None:
        """Returns the signing secret of a source system's webhook."""
        config = self.webhooks.get(system)
        secret = (config.secret if config else None) or self.webhook_signing_secret
        if secret is None and self.environment == "local":
            return DEMO_WEBHOOK_SECRET
        return secret.get_secret_value() if secret else None

    @model_validator(mode="after")
    def _consistent_and_safe(self) -> Self:
        timeouts = [self.smtp_timeout_s, *(s.timeout_s for s in self.webhooks.values())]
        if self.lease_s <= max(timeouts):
            raise ValueError("lease_s must exceed every SMTP and webhook timeout")
        if self.is_local:
            return self
        for name, system in self.webhooks.items():
            if system.callback_url is None:
                continue
            if self.secret_of(name) is None:
                raise ValueError(f"source system {name!r} has a callback but no signing secret")
            if self.environment == "prod" and system.callback_url.scheme != "https":
                raise ValueError(f"source system {name!r}: callbacks must use https in prod")
        return self
