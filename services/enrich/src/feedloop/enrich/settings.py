"""Enrich settings, read from FEEDLOOP_ENRICH_* variables."""

import os
import socket
from pathlib import Path
from typing import ClassVar, Self

from feedloop.common import topics
from feedloop.common.settings import ApiKeySettings, ConsumerSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "model" / "sentiment-use-v2"
DEFAULT_TAXONOMY = PACKAGE_DIR / "taxonomy.yaml"
SCOPE_ANALYSE = "enrich:analyse"


class EnrichSettings(ApiKeySettings, ConsumerSettings):
    """How enrich loads its models, finds themes and moves records from raw-feedback."""

    api_keys_required: ClassVar[bool] = False

    model_config = SettingsConfigDict(
        env_prefix="FEEDLOOP_ENRICH_", frozen=True, extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "enrich"
    port: int = 8002
    consumer_group: str = topics.CONSUMER_GROUP_ENRICH
    consume: bool = Field(default=True, description="Run the Kafka consumer (off: API only).")
    # One transaction per batch: 256 typical items take a few seconds, and even long ones
    # (48 sentences each) stay inside the transaction and poll timeouts.
    batch_max_records: int = Field(default=256, ge=1, le=10_000)

    # Models
    model_dir: Path = Field(
        default=DEFAULT_MODEL_DIR,
        description="Sentiment model: our head on the multilingual encoder (a folder with "
        "head.npz), or a HF sequence-classification ONNX folder (model.onnx, tokenizer.json, "
        "config.json with id2label), e.g. model/sentiment-minilm-v1 (English only).",
    )
    # One BLAS thread: a second one spins while it waits and cost 2.7-4x the CPU per item in
    # `make bench-enrich`; scale with replicas (one per partition) instead.
    grouping_map: bool = Field(
        default=False,
        description="Join the item vector with its image under the learned grouping map "
        "(model_dir/grouping.npz): pairwise F1 0.58 vs 0.41 on the grouping set, but it still "
        "splits one problem by garment (docs/enrich-quality.md), so it is off by default.",
    )
    intra_op_threads: int = Field(default=1, ge=1, le=64)
    max_tokens: int = Field(default=128, ge=8, le=512)
    max_segments: int = Field(
        default=48, ge=1, le=1000, description="Sentences analysed per item; the rest is kept."
    )

    # Themes and language
    taxonomy_path: Path = DEFAULT_TAXONOMY
    theme_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="Overrides the taxonomy's calibrated threshold."
    )
    languages: list[str] | None = Field(
        default=None, description="Language codes langid may answer; empty: all langid knows."
    )

    # Delivery
    item_budget_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="Time one item's redaction and segmentation may take; beyond it the item "
        "is dead-lettered with reason too_slow.",
    )
    dedup_window: int = Field(
        default=50_000, ge=0, description="Recent event ids remembered to drop repeats."
    )
    transactional_id: str | None = Field(
        default=None,
        description="Kafka transactional id; default: group, topic prefix and client id.",
    )

    # POST /v1/analyse (API keys: ApiKeySettings; optional, unconfigured it answers 401)
    analyse_max_texts: int = Field(default=256, ge=1, le=10_000)

    def instance_id(self) -> str:
        """Returns a name stable across restarts of this instance (pod name, else host:port)."""
        if self.kafka_client_id:
            return self.kafka_client_id
        # Processes on one host differ by port; a restarted process keeps its port.
        host = os.environ.get("HOSTNAME") or socket.gethostname()
        return f"{self.service_name}-{host}-{self.port}"

    def resolved_transactional_id(self) -> str:
        """Returns the transactional id of this instance's producer."""
        if self.transactional_id:
            return self.transactional_id
        return f"{self.consumer_group}:{self.kafka_topic_prefix}{self.instance_id()}"

    @model_validator(mode="after")
    def _model_folder_exists(self) -> Self:
        if not any((self.model_dir / name).is_file() for name in ("head.npz", "model.onnx")):
            raise ValueError(f"model_dir {self.model_dir} has neither head.npz nor model.onnx")
        if not self.taxonomy_path.is_file():
            raise ValueError(f"taxonomy_path {self.taxonomy_path} does not exist")
        return self
