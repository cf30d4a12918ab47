"""The KPI of a group of survey answers, with its 95 % interval, to show beside its response rate.

NPS: promoters (9-10) minus detractors (0-6), in points, interval from the variance of that
difference of shares (a multinomial: SE = sqrt((p + d - (p - d)^2) / n)). CSAT: the share of
top (or top two) answers in percent with a Wilson interval, or the mean score. CES: the mean
score. Means get a normal interval (sd / sqrt n); a single answer gets none.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from feedloop.solicit.rates_math import Z_95, wilson_bounds
from pydantic import BaseModel


class Kpi(BaseModel):
    """A group's score from its answers, with a 95 % interval."""

    metric: Literal["nps", "csat", "ces"]
    definition: str
    value: float
    low: float
    high: float
    answers: int


def kpi_of(answers: Sequence[Mapping[str, Any]]) -> Kpi | None:
    """The KPI of answers to one metric on one scale; None when there are none or they mix."""
    shapes = {(a["metric"], a.get("scale_max"), a.get("method")) for a in answers}
    if len(shapes) != 1:
        return None
    scores = [int(a["score"]) for a in answers]
    first = answers[0]
    if first["metric"] == "nps":
        return _nps(scores)
    if first["metric"] == "csat" and first.get("method", "top_2_box") != "mean":
        return _csat_share(scores, int(first.get("scale_max", 5)), str(first["method"]))
    return _mean(first["metric"], scores)


def _nps(scores: Sequence[int]) -> Kpi:
    n = len(scores)
    promoters = sum(s >= 9 for s in scores) / n
    detractors = sum(s <= 6 for s in scores) / n
    value = 100 * (promoters - detractors)
    variance = max(0.0, promoters + detractors - (promoters - detractors) ** 2)
    half = 100 * Z_95 * math.sqrt(variance / n)
    return Kpi(
        metric="nps",
        definition="% promoters (9-10) - % detractors (0-6)",
        value=value,
        low=max(-100.0, value - half),
        high=min(100.0, value + half),
        answers=n,
    )


def _csat_share(scores: Sequence[int], scale_max: int, method: str) -> Kpi:
    cutoff = scale_max - (1 if method == "top_2_box" else 0)
    hits = sum(s >= cutoff for s in scores)
    low, high = wilson_bounds(hits, len(scores))
    return Kpi(
        metric="csat",
        definition=f"% answers >= {cutoff} of {scale_max} ({method})",
        value=100 * hits / len(scores),
        low=100 * low,
        high=100 * high,
        answers=len(scores),
    )


def _mean(metric: Literal["csat", "ces"], scores: Sequence[int]) -> Kpi:
    n = len(scores)
    mean = sum(scores) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1)) if n > 1 else 0.0
    half = Z_95 * sd / math.sqrt(n)
    return Kpi(
        metric=metric,
        definition="mean score",
        value=mean,
        low=mean - half,
        high=mean + half,
        answers=n,
    )
