"""Customer KPIs and significance tests (pure): NPS, CSAT by method, CES by scale, proportions."""

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypedDict

from feedloop.prioritize.rows import CesSignal, CsatSignal
from scipy import stats as sps


class NpsScore(TypedDict):
    """NPS of a set of answers, with its counts."""

    score: float
    responses: int
    promoters: int
    passives: int
    detractors: int


class CsatScore(TypedDict):
    """CSAT of one method: a share (%) or a mean (0..100)."""

    score: float
    responses: int


class CesScore(TypedDict):
    """CES of one scale and direction."""

    mean: float
    easy_share: float
    responses: int


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
    }


def csat(answers: Iterable[CsatSignal]) -> dict[str, CsatScore]:
    """CSAT per declared method: top-box or top-2-box share (%), or the mean (on a 0..1 scale)."""
    by_method: dict[str, list[CsatSignal]] = defaultdict(list)
    for answer in answers:
        by_method[answer["method"]].append(answer)
    out: dict[str, CsatScore] = {}
    for method, items in sorted(by_method.items()):
        if method == "mean":
            value = round(100 * statistics.fmean(a["normalised"] for a in items), 1)
        else:
            top = 1 if method == "top_box" else 2
            hits = sum(1 for a in items if a["score"] > a["scale_max"] - top)
            value = round(100 * hits / len(items), 1)
        out[method] = {"score": value, "responses": len(items)}
    return out


def ces(answers: Iterable[CesSignal]) -> dict[str, CesScore]:
    """CES per scale and direction: mean score, and the share who found it easy (ease >= 2/3)."""
    by_scale: dict[str, list[CesSignal]] = defaultdict(list)
    for answer in answers:
        by_scale[f"1-{answer['scale_max']} {answer['direction']}"].append(answer)
    return {
        scale: {
            "mean": round(statistics.fmean(a["score"] for a in items), 2),
            "easy_share": round(100 * sum(a["ease"] >= 2 / 3 for a in items) / len(items), 1),
            "responses": len(items),
        }
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
