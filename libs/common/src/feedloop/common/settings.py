"""Settings base shared by every service; each service subclasses it with its own env prefix."""

from typing import ClassVar, Final, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "test", "dev", "prod"]


class ServiceSettings(BaseSettings):
    """Kafka, HTTP, logging and environment settings every service has."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_nested_delimiter="__")

    service_name: str = "feedloop"
    environment: Environment = "local"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = None  # None: JSON unless stdout is a terminal (logs.py)
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger request bodies are refused with 413."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics server, apart from the API (default: the "
        "API port + 1000); 0 serves /metrics on the API app instead (in-process tests).",
    )
    api_docs: bool | None = Field(
        default=None, description="Serve /docs, /redoc and /openapi.json; default: local only."
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates (SSL, SASL_SSL)."
    )
    kafka_request_timeout_ms: int = Field(default=15_000, ge=1_000)
    kafka_topic_prefix: str = Field(
        default="", description="Prepended to every topic name (isolated tests, shared clusters)."
    )

    def topic(self, name: str) -> str:
        """Returns the physical name of a logical topic (e.g. 'raw-feedback')."""
        return f"{self.kafka_topic_prefix}{name}"

    @property
    def is_local(self) -> bool:
        """True on a developer machine or in tests, where development defaults are allowed."""
        return self.environment in ("local", "test")

    @property
    def metrics_listen_port(self) -> int | None:
        """The port of the separate /metrics listener; None when /metrics is on the API app."""
        if self.metrics_port == 0:
            return None
        return self.metrics_port or self.port + 1000

    @property
    def allows_dev_key(self) -> bool:
        """True only on a developer machine: the documented key is public, tests use their own."""
        return self.environment == "local"

    @property
    def serves_docs(self) -> bool:
        """True when /docs and /openapi.json are served (by default only in local mode)."""
        return self.allows_dev_key if self.api_docs is None else self.api_docs

    @model_validator(mode="after")
    def _refuse_plaintext_sasl_secrets_in_prod(self) -> Self:
        if (
            self.environment == "prod"
            and self.kafka_sasl_password
            and self.kafka_security_protocol == "SASL_PLAINTEXT"
        ):
            raise ValueError("refusing to send SASL credentials in plaintext in prod")
        return self


class ConsumerSettings(ServiceSettings):
    """Settings of a service that consumes a topic in batches."""

    consumer_group: str = "feedloop"
    batch_max_records: int = Field(default=500, ge=1, le=10_000)
    batch_timeout_ms: int = Field(default=200, ge=1)
    session_timeout_ms: int = Field(default=30_000, ge=6_000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)


class ApiKeySettings(ServiceSettings):
    """Mixin: the API clients of a service; outside local mode they must be configured.

    The variables are the service's `<PREFIX>API_KEYS` (a JSON list of clients) and
    `<PREFIX>API_KEYS_FILE` (a YAML or JSON file of them), read by feedloop.common.auth.
    """

    api_keys_required: ClassVar[bool] = True
    """False for a service whose API is optional: unconfigured, it answers 401 to everyone."""

    api_keys: str | None = Field(
        default=None,
        description='JSON list: [{"client_id","key_sha256","scopes",["rate_per_second","burst"]}]',
    )
    api_keys_file: str | None = Field(default=None, description="YAML or JSON file of clients.")

    @model_validator(mode="after")
    def _keys_required_outside_local(self) -> Self:
        configured = self.api_keys or self.api_keys_file
        if self.api_keys_required and not self.is_local and not configured:
            prefix = str(self.model_config.get("env_prefix", "")).upper()
            raise ValueError(f"{prefix}API_KEYS or _API_KEYS_FILE is required outside local mode")
        return self


class StoreSettings(ServiceSettings):
    """Mixin: a service's own database (SQLite locally, PostgreSQL for several replicas).

    The service declares `database_url` itself, since its default names the service's file.
    """

    database_url: str = "sqlite+aiosqlite:///.local/feedloop.db"
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="PostgreSQL statement_timeout (0: none)."
    )
    db_lock_timeout_ms: int = Field(
        default=10_000, ge=0, description="PostgreSQL lock_timeout (0: none)."
    )
    migrate_on_start: bool | None = Field(
        default=None, description="Run `alembic upgrade head` at start; default: in local mode."
    )

    @property
    def migrate(self) -> bool:
        """True when the app upgrades the schema at start."""
        return self.is_local if self.migrate_on_start is None else self.migrate_on_start


class OutboxSettings(ServiceSettings):
    """Mixin: how the transactional outbox relay batches and polls (feedloop.common.outbox)."""

    outbox_batch: int = Field(default=1000, ge=1)
    outbox_poll_s: float = Field(default=0.5, gt=0)


DEMO_SMTP: Final = ("127.0.0.1", 2525)
"""The demo sinks' SMTP server (scripts/demo/sinks.py): local mode's e-mail goes there."""


class SmtpSettings(ServiceSettings):
    """Mixin: the SMTP server a service sends e-mail through, and the sender's address."""

    smtp_host: str | None = Field(default=None, description="None: no e-mail (local: demo sink).")
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=120)
    mail_from: str = "Customer care <care@feedloop.example>"

    @property
    def smtp_server(self) -> tuple[str, int] | None:
        """(host, port) of the SMTP server, or None when e-mail is off."""
        if self.smtp_host is None:
            return DEMO_SMTP if self.environment == "local" else None
        default_port = {"none": 25, "starttls": 587, "tls": 465}[self.smtp_security]
        return self.smtp_host, self.smtp_port or default_port

    @property
    def effective_smtp_security(self) -> str:
        """The SMTP security in use: the local demo sink speaks plain SMTP."""
        if self.smtp_host is None and self.environment == "local":
            return "none"
        return self.smtp_security
