"""Praise split into positive patterns within a theme, the way complaints become issues (pure).

Each praise item, oldest first, joins the most similar group of its theme at or above the
issue grouping's `similarity_threshold` (grouping.best_match, the same code) within `window` of
its newest member, or opens a group of its own. The window spans both windows the listing
compares (not an issue's `window_days`): a pattern whose praise paused is still one group, so
its fall shows as fading instead of as a new group. A group of at least
`pattern_min_customers` distinct customers is a pattern; a smaller one is a one-off. Groups are
rebuilt from the stored items each time they are read: no store of their own, so erasing a
customer's feedback erases them from every group.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from feedloop.common.events import deterministic_id
from feedloop.prioritize.grouping import Candidate, Vector, best_match
from feedloop.prioritize.praise.rank import ThemeCounts


@dataclass(frozen=True, slots=True)
class PraiseItem:
    """One praise item as the grouping needs it."""

    feedback_id: str
    theme: str
    customer_id: str
    arr: float
    occurred_at: datetime
    text: str
    vector: Vector


@dataclass(slots=True)
class PraiseGroup:
    """Praise items of one theme that say much the same."""

    id: str
    theme: str
    candidate: Candidate
    items: list[PraiseItem] = field(default_factory=list)

    def customers(self) -> dict[str, float]:
        """Distinct customers and their value (the highest ARR seen for each)."""
        value: dict[str, float] = {}
        for item in self.items:
            value[item.customer_id] = max(value.get(item.customer_id, 0.0), item.arr)
        return value

    def counts(self, *, since: datetime, totals: tuple[int, int]) -> ThemeCounts:
        """The group's praise in the recent window and the one before, against its theme's
        feedback (`totals`: all items of the theme, recent and previous)."""
        recent = sum(1 for item in self.items if item.occurred_at >= since)
        customers = self.customers()
        return ThemeCounts(
            theme=self.theme,
            praise_recent=recent,
            total_recent=totals[0],
            praise_previous=len(self.items) - recent,
            total_previous=totals[1],
            customers=len(customers),
            customer_value=sum(customers.values()),
            group=self.id,
        )

    def examples(self, limit: int = 3) -> list[str]:
        """The newest texts."""
        return [item.text for item in sorted(self.items, key=lambda i: i.occurred_at)][::-1][:limit]


def group_praise(
    items: Iterable[PraiseItem], *, threshold: float, window: timedelta
) -> list[PraiseGroup]:
    """Groups praise by theme and similarity, oldest item first (the issue grouping's rule)."""
    candidates: dict[str, list[Candidate]] = {}
    groups: dict[str, PraiseGroup] = {}
    for item in sorted(items, key=lambda i: (i.occurred_at, i.feedback_id)):
        theme = candidates.setdefault(item.theme, [])
        match = best_match(
            item.vector,
            theme,
            at=item.occurred_at,
            threshold=threshold,
            window=window,
            regression_window=timedelta(0),
        )
        if match is None:
            match = Candidate(
                id=deterministic_id("praise-pattern", item.theme, item.feedback_id),
                theme=item.theme,
                status="new",
                centroid=item.vector,
                members=0,
                last_seen=item.occurred_at,
                new=True,
            )
            theme.append(match)
            groups[match.id] = PraiseGroup(match.id, item.theme, match)
        match.absorb(item.vector)
        match.last_seen = max(match.last_seen, item.occurred_at)
        groups[match.id].items.append(item)
    return list(groups.values())
