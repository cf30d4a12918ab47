"""Settings of the KPI alerts (kpis.alerts): how often spikes are looked for, when digests go."""

from feedloop.common.settings import ServiceSettings
from pydantic import Field


class KpiAlertSettings(ServiceSettings):
    """Mixin: the spike detector's and the weekly digest's schedule (UTC)."""

    kpi_alerts: bool = Field(
        default=True, description="Emit kpi.spike_detected and kpi.weekly_digest on `alerts`."
    )
    kpi_alert_check_s: float = Field(
        default=300.0, gt=0, le=86400, description="How often spikes and the digest are checked."
    )
    spike_lookback_days: int = Field(
        default=2, ge=1, le=14, description="Days (today included) whose spikes are alerted."
    )
    digest_weekday: int = Field(
        default=0, ge=0, le=6, description="Day the weekly digest goes (0 Monday .. 6 Sunday)."
    )
    digest_hour: int = Field(default=8, ge=0, le=23, description="Hour (UTC) it goes.")
