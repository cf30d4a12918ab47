"""Settings base shared by every service; each service subclasses it with its own env prefix."""

from typing import Literal, Self

from pydantic import Field, model_validator
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
    log_json: bool = True
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
