"""Ranking praise patterns and spotting fading ones (pure)."""

import math
from dataclasses import dataclass, field

Z_FADING = 1.96
"""A fall of the praise share this many standard errors (two-sided 5%) is significant."""


@dataclass(frozen=True, slots=True)
class ThemeCounts:
    """One theme's (or one praise pattern's) praise, and all items of the theme, in the recent
    window and the one before it."""

    theme: str
    praise_recent: int
    total_recent: int
    praise_previous: int
    total_previous: int
    customers: int
    """Distinct customers who praised it, both windows."""
    customer_value: float
    """Sum of those customers' ARR (one value per customer)."""
    group: str | None = None
    """A similarity group within the theme (praise.patterns); None: the whole theme."""


@dataclass(slots=True)
class Ranked:
    """A praise pattern with its score, reasons and fading verdict."""

    counts: ThemeCounts
    score: float = 0.0
    rank: int = 0
    reasons: list[str] = field(default_factory=list)
    fading: bool = False
    z: float | None = None


def share(part: int, whole: int) -> float | None:
    """part / whole, or None without data."""
    return part / whole if whole else None


def fading_z(c: ThemeCounts) -> float | None:
    """The two-proportion z of the praise share, recent minus previous (None: too little data)."""
    if c.total_recent < 5 or c.total_previous < 5:
        return None
    p1, p0 = c.praise_recent / c.total_recent, c.praise_previous / c.total_previous
    pooled = (c.praise_recent + c.praise_previous) / (c.total_recent + c.total_previous)
    se = math.sqrt(pooled * (1 - pooled) * (1 / c.total_recent + 1 / c.total_previous))
    return (p1 - p0) / se if se > 0 else None


def rank(counts: list[ThemeCounts], *, reach_weight: float = 0.6) -> list[Ranked]:
    """Ranks patterns by reach (distinct customers) and customer value, with stated reasons."""
    if not counts:
        return []
    most_customers = max(c.customers for c in counts) or 1
    most_value = max(c.customer_value for c in counts) or 1.0
    out: list[Ranked] = []
    for c in counts:
        reach = c.customers / most_customers
        value = c.customer_value / most_value
        item = Ranked(c, score=round(100 * (reach_weight * reach + (1 - reach_weight) * value), 2))
        item.reasons = [
            f"reach: {c.customers} customers praised it ({reach:.0%} of the widest pattern)",
            f"customer value: {c.customer_value:,.0f} ARR among them ({value:.0%} of the most)",
        ]
        item.z = fading_z(c)
        if item.z is not None and item.z <= -Z_FADING:
            item.fading = True
            before = share(c.praise_previous, c.total_previous) or 0.0
            now = share(c.praise_recent, c.total_recent) or 0.0
            item.reasons.append(
                f"fading: praise fell from {before:.0%} to {now:.0%} of the theme's feedback "
                f"(z = {item.z:.1f})"
            )
        out.append(item)
    out.sort(key=lambda r: (-r.score, r.counts.theme, r.counts.group or ""))
    for n, item in enumerate(out, start=1):
        item.rank = n
    return out
