"""Issue priority: impact over effort, RICE-like, with each factor's contribution and reason.

    impact   = 0.40 reach + 0.25 severity + 0.15 customer value + 0.10 trend + 0.10 recency
    score    = 100 * impact / effort                 (0..100 for effort 1)

Every factor lies in 0..1:
- reach:    0.7 * log(1 + customers) / log(1 + 50)  +  0.3 * min(1, 5 * share of volume)
            (50 distinct customers saturate; 20% of all feedback in the window saturates)
- severity: 0.5 * mean negative intensity + 0.2 * NPS-detractor share
            + 0.15 * low-CSAT share + 0.15 * high-effort (CES) share
- value:    0.5 * mean tier weight (free 0.1, standard 0.3, premium 0.6, enterprise 1.0)
            + 0.5 * log(1 + ARR) / log(1 + 1,000,000)
- trend:    z = (today - baseline mean) / max(1, baseline std) of the theme's daily volume;
            min(1, max(0, z) / 4); a spike is z >= 2. Below SPIKE_MIN_COUNT reports that day
            the trend is 0: against an empty baseline two reports would otherwise score z = 2,
            and the trend factor and `is_spike` must agree on what counts as growth.
- recency:  0.5 ** (days since the last report / 7)
- effort:   from the taxonomy (per theme) or set on the issue; 1 = a small fix, 2 = twice the work.
Reach weighs most because RICE multiplies by it: with reach and severity weighted alike, a
two-customer incident at full severity outranked a fifteen-customer pattern of medium severity
(the demo story), i.e. severity bought back a seven-fold smaller reach.
The factor contributions add up to the score: the effort line shows what effort took away.
"""

import math
from dataclasses import dataclass

from feedloop.common.events import Priority, PriorityFactor

WEIGHTS = {"reach": 0.40, "severity": 0.25, "value": 0.15, "trend": 0.10, "recency": 0.10}
TIER_WEIGHT = {"free": 0.1, "standard": 0.3, "premium": 0.6, "enterprise": 1.0}
UNKNOWN_TIER_WEIGHT = 0.3
SPIKE_Z = 2.0
SPIKE_MIN_COUNT = 3
FORMULA = (
    "score = 100 * (0.40 reach + 0.25 severity + 0.15 value + 0.10 trend + 0.10 recency) / effort"
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What is known about an issue when its priority is computed."""

    customers: int
    reports: int
    volume_in_window: int
    negative_intensity: float
    detractor_share: float
    low_csat_share: float
    high_effort_share: float
    tier_weight: float
    arr: float
    theme_today: int
    baseline_mean: float
    baseline_std: float
    days_since_last: float
    effort: float
    effort_source: str = "default"


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    """Returns value limited to low..high."""
    return max(low, min(high, value))


def trend_z(today: int, mean: float, std: float) -> float:
    """Returns the z-score of today's volume against the baseline (std floored at 1)."""
    return (today - mean) / max(1.0, std)


def is_spike(today: int, mean: float, std: float, *, min_count: int = SPIKE_MIN_COUNT) -> bool:
    """True when today's volume lies two standard deviations or more above the baseline."""
    return today >= min_count and trend_z(today, mean, std) >= SPIKE_Z


def factors_of(e: Evidence) -> dict[str, tuple[float, str]]:
    """Returns each impact factor's value (0..1) and its readable reason."""
    share = e.reports / e.volume_in_window if e.volume_in_window else 0.0
    reach = 0.7 * clamp(math.log1p(e.customers) / math.log1p(50)) + 0.3 * clamp(5 * share)
    severity = (
        0.5 * clamp(e.negative_intensity)
        + 0.2 * clamp(e.detractor_share)
        + 0.15 * clamp(e.low_csat_share)
        + 0.15 * clamp(e.high_effort_share)
    )
    value = 0.5 * clamp(e.tier_weight) + 0.5 * clamp(math.log1p(e.arr) / math.log1p(1_000_000))
    z = trend_z(e.theme_today, e.baseline_mean, e.baseline_std)
    counted = e.theme_today >= SPIKE_MIN_COUNT
    trend = clamp(max(0.0, z) / 4) if counted else 0.0
    few = "" if counted else f" (fewer than {SPIKE_MIN_COUNT} that day: no trend credit)"
    recency = 0.5 ** (max(0.0, e.days_since_last) / 7)
    spike = " (a spike)" if is_spike(e.theme_today, e.baseline_mean, e.baseline_std) else ""
    return {
        "reach": (
            reach,
            f"{e.customers} distinct customers, {e.reports} reports = "
            f"{share:.1%} of all feedback in the window",
        ),
        "severity": (
            severity,
            f"negative intensity {e.negative_intensity:.2f}, NPS detractors "
            f"{e.detractor_share:.0%}, low CSAT {e.low_csat_share:.0%}, "
            f"high effort {e.high_effort_share:.0%}",
        ),
        "value": (value, f"mean tier weight {e.tier_weight:.2f}, ARR {e.arr:,.0f}"),
        "trend": (
            trend,
            f"theme volume today {e.theme_today} vs baseline {e.baseline_mean:.1f} "
            f"+/- {e.baseline_std:.1f} per day, z = {z:.1f}{spike}{few}",
        ),
        "recency": (recency, f"last reported {e.days_since_last:.1f} days ago"),
    }


def score(e: Evidence) -> Priority:
    """Returns the priority of an issue with every factor's contribution."""
    factors: list[PriorityFactor] = []
    impact = 0.0
    for name, (value, reason) in factors_of(e).items():
        weight = WEIGHTS[name]
        impact += weight * value
        factors.append(
            PriorityFactor(
                name=name,
                value=round(value, 4),
                weight=weight,
                contribution=round(100 * weight * value, 2),
                reason=reason,
            )
        )
    effort = max(0.1, e.effort)
    total = 100 * impact / effort
    factors.append(
        PriorityFactor(
            name="effort",
            value=effort,
            weight=round(1 / effort, 4),
            contribution=round(total - 100 * impact, 2),
            reason=f"effort {effort:g} ({e.effort_source}): impact {100 * impact:.1f} / {effort:g}",
        )
    )
    return Priority(score=round(total, 2), factors=factors, formula=FORMULA)


def severity_label(e: Evidence, *, is_pattern: bool) -> str:
    """Returns low / medium / high / critical from the severity factor and the reach."""
    severity = factors_of(e)["severity"][0]
    if severity >= 0.6 and is_pattern:
        return "critical"
    if severity >= 0.45:
        return "high"
    if severity >= 0.25:
        return "medium"
    return "low"
