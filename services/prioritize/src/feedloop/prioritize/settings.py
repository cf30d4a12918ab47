"""Prioritize settings, read from FEEDLOOP_PRIORITIZE_* variables."""

from feedloop.common import topics
from feedloop.common.settings import (
    ApiKeySettings,
    ConsumerSettings,
    OutboxSettings,
    StoreSettings,
)
from feedloop.prioritize.kpis.alert_settings import KpiAlertSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

SCOPE_READ = "issues:read"
SCOPE_WRITE = "issues:write"
SCOPE_RESOLVE = "issues:resolve"
"""Resolving an issue mails every linked customer: a scope of its own, beside issues:write."""


class PrioritizeSettings(
    StoreSettings, OutboxSettings, ApiKeySettings, ConsumerSettings, KpiAlertSettings
):
    """How prioritize stores, groups, scores and serves issues."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDLOOP_PRIORITIZE_", frozen=True, extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "prioritize"
    port: int = 8003
    consumer_group: str = topics.CONSUMER_GROUP_PRIORITIZE
    closed_consumer_group: str = topics.CONSUMER_GROUP_PRIORITIZE_CLOSED
    database_url: str = "sqlite+aiosqlite:///.local/prioritize.db"
    consume: bool = Field(default=True, description="Run the Kafka consumers (off: API only).")
    # Retention (feedloop.prioritize.retention)
    retention_feedback_days: float | None = Field(
        default=365.0,
        gt=0,
        description="Feedback text and contact data are stripped after this long (the numbers "
        "stay for KPIs); None: kept.",
    )
    retention_prune_s: float = Field(default=3600.0, gt=0, description="How often to prune.")

    # Grouping
    window_days: float = Field(default=14.0, gt=0, description="An issue stays open this long.")
    praise_window_days: float = Field(
        default=14.0, gt=0, description="Praise patterns compare this window with the one before."
    )
    inbox_sla_hours: float = Field(
        default=24.0, gt=0, description="A question open longer than this is overdue."
    )
    # Tuned for enrich v2's USE-m3 vectors on the grouping set (tests/quality/grouping.py
    # --sweep: 0.45 has the best ARI; 0.55 was MiniLM's).
    # Tuned for enrich v2's USE-m3 vectors (tests/quality/grouping.py --sweep: 0.35 keeps the
    # demo's multilingual sizing complaints in one pattern; 0.55 was v1 MiniLM's).
    similarity_threshold: float = Field(default=0.35, ge=-1, le=1)
    merge_similarity: float = Field(
        default=0.8,
        ge=-1,
        le=1,
        description="Issues of a theme past the pattern size merge at this centroid similarity.",
    )
    merge_cohesion: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Issues past the pattern size also merge when the mean similarity across "
        "them is at least this fraction of the mean similarity within them.",
    )
    auto_merge: bool = Field(
        default=True, description="Merge issues that the arrival order split (consolidate.py)."
    )
    duplicate_similarity: float = Field(default=0.92, ge=-1, le=1)
    pattern_min_customers: int = Field(default=3, ge=1)
    regression_min_customers: int = Field(default=3, ge=1)
    regression_min_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Reopen only when returning customers reach this share of the issue's reach "
        "too: a residue of complaints after a fix for 100 customers is not a regression.",
    )
    regression_window_days: float = Field(default=30.0, gt=0)

    # Priority
    effort_by_theme: dict[str, float] = Field(
        default_factory=dict, description="Taxonomy effort per theme (1 = a small fix)."
    )
    default_effort: float = Field(default=1.0, gt=0)
    baseline_days: int = Field(default=28, ge=3)
