"""Direction cues: the words and phrases that name a theme's pole, in several languages.

The sentence encoder hears "runs small" and "runs large" as near neighbours, and it hears product
names as poles too ("slim jeans" leans small, "hoodie" large): a direction read from vectors alone
names the wrong pole of many sizing complaints (issue 18). A theme can therefore list, per pole,
the phrases and words that name it (`direction_cues` in the taxonomy). They are read on the
lower-cased text of the theme's segments in three passes:

1. a size ladder, when the theme has one: "ordered an M, fits like an S" names the pole of the
   step from the first size to the second;
2. phrases (regular expressions): overlapping matches of both poles go to the longest, so "one
   size bigger than labelled" (the garment: large) beats "one size bigger" (the remedy: small);
   each matched span is removed before the next pass;
3. single words.

A pole is named when only its cues occur, or when its cues outnumber the other's more than two
to one; otherwise the cues name nothing and the vector-based finder decides. A product named
with a cue word ("oversized hoodie ... tight") therefore ties and falls back to the vectors.
"""

import re
from collections import Counter
from dataclasses import dataclass

from feedloop.enrich.taxonomy import Theme

_BEFORE = r"(?<![\w-])"
_AFTER = r"(?![\w-])"
LADDER_WEIGHT = 2
"""A size comparison weighs as two cues: it is the most explicit statement of a direction."""


@dataclass(frozen=True)
class Ladder:
    """Sizes in ascending order and the poles of a step down or up ("M ... like an S")."""

    pattern: re.Pattern[str]
    order: dict[str, int]
    below: str
    above: str

    def pole(self, text: str) -> str | None:
        match = self.pattern.search(text)
        if match is None:
            return None
        first, second = self.order[match.group("a")], self.order[match.group("b")]
        if first == second:
            return None
        return self.below if second < first else self.above


@dataclass(frozen=True)
class ThemeCues:
    """One theme's compiled cues."""

    phrases: list[tuple[str, re.Pattern[str]]]
    words: list[tuple[str, re.Pattern[str]]]
    ladder: Ladder | None

    @classmethod
    def of(cls, theme: Theme) -> "ThemeCues | None":
        if not theme.direction_cues:
            return None
        phrases, words = [], []
        for pole, cues in theme.direction_cues.items():
            phrases += [(pole, re.compile(_BEFORE + p + _AFTER)) for p in cues.phrases]
            if cues.words:
                alternation = "|".join(f"(?:{w})" for w in cues.words)
                words.append((pole, re.compile(f"{_BEFORE}(?:{alternation}){_AFTER}")))
        return cls(phrases, words, _ladder(theme))

    def counts(self, text: str) -> Counter[str]:
        """How many cues of each pole the text holds."""
        counts: Counter[str] = Counter()
        if self.ladder is not None and (pole := self.ladder.pole(text)) is not None:
            counts[pole] += LADDER_WEIGHT
        low = text.lower()
        spans = sorted(
            ((m.start(), m.end(), pole) for pole, rx in self.phrases for m in rx.finditer(low)),
            key=lambda s: (s[0] - s[1], s[0]),
        )
        taken: list[tuple[int, int]] = []
        for start, end, pole in spans:
            if all(end <= a or start >= b for a, b in taken):
                taken.append((start, end))
                counts[pole] += 1
        for start, end in sorted(taken, reverse=True):
            low = low[:start] + " " + low[end:]
        for pole, rx in self.words:
            counts[pole] += len(rx.findall(low))
        return counts

    def pole(self, text: str) -> str | None:
        """The pole the cues name, or None (no cues, or both poles without a clear lead)."""
        ranked = self.counts(text).most_common()
        if not ranked:
            return None
        if len(ranked) == 1:
            return ranked[0][0]
        (first, a), (_, b) = ranked[0], ranked[1]
        return first if a > 2 * b else None


def _ladder(theme: Theme) -> Ladder | None:
    spec = theme.direction_ladder
    if spec is None:
        return None
    names = sorted({*spec.order, *spec.aliases}, key=len, reverse=True)
    size = "|".join(re.escape(n) for n in names)
    pattern = re.compile(
        rf"{_BEFORE}(?P<a>{size}){_AFTER}.{{0,40}}?{_BEFORE}(?:{spec.link}){_AFTER}"
        rf"\s+(?:(?:{spec.articles})\s+)?(?P<b>{size}){_AFTER}"
    )
    order = {name: k for k, name in enumerate(spec.order)}
    order |= {alias: order[target] for alias, target in spec.aliases.items()}
    return Ladder(pattern, order, spec.below, spec.above)
