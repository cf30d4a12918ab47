"""Ingest settings, read from FEEDLOOP_INGEST_* variables."""

from typing import Literal, Self

from feedloop.common.settings import ApiKeySettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

SCOPE_WRITE = "feedback:write"


class IngestSettings(ApiKeySettings):
    """How ingest listens, authenticates, limits and produces."""

    model_config = SettingsConfigDict(env_prefix="FEEDLOOP_INGEST_", frozen=True, extra="ignore")

    service_name: str = "ingest"
    port: int = 8001
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    batch_max_items: int = Field(default=5000, ge=1, le=50_000)
    produce_timeout_s: float = Field(default=5.0, gt=0, le=30)
    retry_after_s: int = Field(default=5, ge=1)
    idempotency_cache_size: int = Field(
        default=1_000_000, ge=100, description="Entries of each half of the store at most."
    )
    idempotency_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes of accepted feedback ids remembered (about 200 bytes each).",
    )
    idempotency_keys_max_bytes_per_client: int = Field(
        default=8 * 1024 * 1024,
        ge=16 * 1024,
        description="Bytes of Idempotency-Keys remembered per client (about 330 + key length).",
    )
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, le=86_400, description="occurred_at may lie this far in the future."
    )
    idempotency_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    idempotency_warmup_hours: float = Field(
        default=24.0, ge=0, description="Re-read this much of raw-feedback at start (0: off)."
    )
    linger_ms: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="How long single POSTs' records wait to share a batch.",
    )
    compression: Literal["none", "lz4", "zstd", "snappy", "gzip"] = Field(
        default="none",
        description="Producer compression (codecs installed with aiokafka's extras): costs ingest "
        "CPU per batch, saves network bytes to a broker across a network; none on loopback.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="uvicorn worker processes; more than one needs `claims_url`.",
    )
    claims_url: str | None = Field(
        default=None,
        description="Database of the claims shared by workers and replicas, so that retries "
        "racing on two processes produce one record: sqlite+aiosqlite:///<file> for the "
        "workers of one host, postgresql+asyncpg://... across pods. Unset: one process.",
    )
    claims_prune_interval_s: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _workers_share_claims(self) -> Self:
        if self.workers > 1 and not self.claims_url:
            raise ValueError("FEEDLOOP_INGEST_CLAIMS_URL is required with WORKERS > 1")
        return self

    @property
    def claims_lease_s(self) -> float:
        """How long a claim in flight is honoured: beyond the producer's bounded send."""
        return self.produce_timeout_s + 5.0
