"""Settings of the KPI alerts' delivery (FEEDLOOP_NOTIFY_ALERT_*)."""

from feedloop.common.settings import ServiceSettings
from pydantic import Field


class AlertSettings(ServiceSettings):
    """Mixin: links, retries, timeouts and caps of the alerts to staff."""

    alert_console_url: str = Field(
        default="http://127.0.0.1:8005", max_length=500, description="Links in alerts point here."
    )
    alert_max_attempts: int = Field(default=6, ge=1, le=50)
    alert_retry_base_s: float = Field(
        default=30.0, gt=0, le=3600, description="Backoff: this, doubled per attempt (<= 1 h)."
    )
    alert_webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    alert_webhook_allow_internal: bool = Field(
        default=False,
        description="Outside local mode, alert webhooks must be https to a public host unless "
        "this is set (a chat server inside the company network).",
    )
    alert_cap_per_hour: int = Field(
        default=30, ge=1, le=10_000, description="Alerts one subscription gets in an hour, at most."
    )
    alert_poll_s: float = Field(default=5.0, gt=0, le=600)
    alert_lease_s: float = Field(
        default=120.0, gt=0, le=3600, description="A claimed delivery waits this long for retry."
    )
    alert_keep_days: int = Field(default=90, ge=1, le=3650)
