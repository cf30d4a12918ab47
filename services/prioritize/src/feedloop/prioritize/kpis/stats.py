"""Customer KPIs, their 95 % intervals and significance tests (pure): NPS, CSAT by method, CES
by scale, proportions.

Intervals hold for few answers too: an NPS gets the adjusted Wald interval (Rocks, "Interval
estimation for the 'Net Promoter Score'", The American Statistician 70(4), 2016: 3/4 of an
answer added to promoters and to detractors, 3 to n), which keeps its width at n = 1 or 2 and
when every answer is a promoter, where the plain normal approximation collapses to a point;
shares (CSAT top-box, CES easy) get Wilson's score interval (1927).
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypedDict

from feedloop.prioritize.rows import CesSignal, CsatSignal
from scipy import stats as sps

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""
NPS_PSEUDO = 0.75
"""Answers added to promoters and to detractors (so 3/2 + 3/2 passives' worth: n + 3)."""

Interval = tuple[float, float]


class NpsScore(TypedDict):
    """NPS of a set of answers, with its counts and 95 % interval."""

    score: float
    responses: int
    promoters: int
    passives: int
    detractors: int
    interval: Interval


class _CsatRequired(TypedDict):
    score: float
    responses: int


class CsatScore(_CsatRequired, total=False):
    """CSAT of one method: a share (%) or a mean (0..100); a share has its 95 % interval."""

    interval: Interval


class CesScore(TypedDict):
    """CES of one scale and direction, with the 95 % interval of the easy share."""

    mean: float
    easy_share: float
    responses: int
    easy_interval: Interval


def nps_interval(promoters: int, detractors: int, n: int) -> Interval | None:
    """95 % adjusted Wald interval of an NPS (points, -100..100); None without answers.

    p~ = (promoters + 3/4) / (n + 3), d~ = (detractors + 3/4) / (n + 3), and the interval is
    100 * (p~ - d~ +- z * sqrt((p~ + d~ - (p~ - d~)^2) / (n + 3))), clipped to -100..100."""
    if n < 1:
        return None
    total = n + 4 * NPS_PSEUDO
    p, d = (promoters + NPS_PSEUDO) / total, (detractors + NPS_PSEUDO) / total
    half = Z95 * math.sqrt((p + d - (p - d) ** 2) / total)
    low, high = max(-100.0, 100 * (p - d - half)), min(100.0, 100 * (p - d + half))
    return round(low, 2), round(high, 2)


def wilson(hits: float, n: int) -> Interval | None:
    """95 % Wilson score interval of a share, in percent; None without answers."""
    if n < 1:
        return None
    share = hits / n
    centre = share + Z95**2 / (2 * n)
    half = Z95 * math.sqrt(share * (1 - share) / n + Z95**2 / (4 * n * n))
    scale = 1 + Z95**2 / n
    low, high = max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)
    return round(100 * low, 2), round(100 * high, 2)


def _interval(found: Interval | None) -> Interval:
    assert found is not None  # n > 0 at every call
    return found


class TwoProportions(TypedDict):
    """Two rates compared: z-test and Fisher's exact test (None without data)."""

    rate_before: float | None
    rate_after: float | None
    z: float | None
    p_value_z: float | None
    p_value_fisher: float | None


def nps(scores: Sequence[int]) -> NpsScore | None:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), -100..100."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return nps_of_counts(len(scores), promoters=promoters, detractors=detractors)


def nps_of_counts(n: int, *, promoters: int, detractors: int) -> NpsScore:
    """The NPS of `n` answers (n > 0) of which `promoters` and `detractors` are counted."""
    return {
        "score": round(100 * (promoters - detractors) / n, 1),
        "responses": n,
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
        "interval": _interval(nps_interval(promoters, detractors, n)),
    }


def csat_score(method: str, score: float, responses: int, hits: int) -> CsatScore:
    """A CSAT of one method; a share (not the mean) carries its interval."""
    out: CsatScore = {"score": score, "responses": responses}
    if method != "mean":
        out["interval"] = _interval(wilson(hits, responses))
    return out


def ces_score(mean: float, easy: int, responses: int) -> CesScore:
    """A CES of one scale, with its easy share and that share's interval."""
    return {
        "mean": mean,
        "easy_share": round(100 * easy / responses, 1),
        "responses": responses,
        "easy_interval": _interval(wilson(easy, responses)),
    }


def csat(answers: Iterable[CsatSignal]) -> dict[str, CsatScore]:
    """CSAT per declared method: top-box or top-2-box share (%), or the mean (on a 0..1 scale)."""
    by_method: dict[str, list[CsatSignal]] = defaultdict(list)
    for answer in answers:
        by_method[answer["method"]].append(answer)
    out: dict[str, CsatScore] = {}
    for method, items in sorted(by_method.items()):
        hits = 0
        if method == "mean":
            value = round(100 * statistics.fmean(a["normalised"] for a in items), 1)
        else:
            top = 1 if method == "top_box" else 2
            hits = sum(1 for a in items if a["score"] > a["scale_max"] - top)
            value = round(100 * hits / len(items), 1)
        out[method] = csat_score(method, value, len(items), hits)
    return out


def ces(answers: Iterable[CesSignal]) -> dict[str, CesScore]:
    """CES per scale and direction: mean score, and the share who found it easy (ease >= 2/3)."""
    by_scale: dict[str, list[CesSignal]] = defaultdict(list)
    for answer in answers:
        by_scale[f"1-{answer['scale_max']} {answer['direction']}"].append(answer)
    return {
        scale: ces_score(
            round(statistics.fmean(a["score"] for a in items), 2),
            sum(a["ease"] >= 2 / 3 for a in items),
            len(items),
        )
        for scale, items in sorted(by_scale.items())
    }


def two_proportions(hits_a: int, n_a: int, hits_b: int, n_b: int) -> TwoProportions:
    """Compares two rates: two-proportion z-test and Fisher's exact test (two-sided)."""
    rate_a = hits_a / n_a if n_a else None
    rate_b = hits_b / n_b if n_b else None
    if not n_a or not n_b:
        return {
            "rate_before": rate_a,
            "rate_after": rate_b,
            "z": None,
            "p_value_z": None,
            "p_value_fisher": None,
        }
    pooled = (hits_a + hits_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (hits_b / n_b - hits_a / n_a) / se if se > 0 else 0.0
    p_z = 2 * sps.norm.sf(abs(z))
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    p_fisher = float(sps.fisher_exact(table).pvalue)
    return {
        "rate_before": rate_a,
        "rate_after": rate_b,
        "z": round(z, 3),
        "p_value_z": float(p_z),
        "p_value_fisher": p_fisher,
    }
