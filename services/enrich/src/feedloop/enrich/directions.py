"""Which of a theme's two opposite poles a complaint names ("runs small" vs "runs large").

Opposite complaints of one theme sit close in the encoder's space (both talk about size), so
grouping by embedding alone merges them although they need opposite fixes. The taxonomy gives a
theme's poles example phrases in several languages; a complaint takes the pole whose examples its
theme's segments are closer to, only when that pole is close (`direction_floor`) and clearly leads
the other (`direction_lead`): a vague mention names no pole and may join either.
"""

from collections.abc import Callable, Sequence

import numpy as np
from feedloop.enrich.inference import FloatArray, normalise_rows
from feedloop.enrich.taxonomy import Taxonomy

Embed = Callable[[Sequence[str]], FloatArray]


class DirectionFinder:
    """Scores segment vectors against each theme's pole examples, embedded once at start."""

    def __init__(self, taxonomy: Taxonomy, embed: Embed) -> None:
        self.lead = taxonomy.calibration.direction_lead
        self.floor = taxonomy.calibration.direction_floor
        self.poles: dict[str, list[tuple[str, FloatArray]]] = {}
        texts = [e for t in taxonomy.themes for examples in t.directions.values() for e in examples]
        vectors = normalise_rows(embed(texts)) if texts else np.zeros((0, 0), np.float32)
        start = 0
        for theme in taxonomy.themes:
            poles = []
            for pole, examples in theme.directions.items():
                poles.append((pole, vectors[start : start + len(examples)]))
                start += len(examples)
            if poles:
                self.poles[theme.id] = poles

    def scores(self, theme: str, vectors: FloatArray) -> dict[str, float]:
        """Returns each pole's closeness: its best example cosine over the segments given."""
        return {
            pole: float((vectors @ examples.T).max()) if len(vectors) else 0.0
            for pole, examples in self.poles.get(theme, [])
        }

    def direction(self, theme: str, vectors: FloatArray) -> str | None:
        """Returns the pole the segments clearly lean to, or None (no poles, or too close)."""
        scores = self.scores(theme, vectors)
        if len(scores) != 2:
            return None
        (first, a), (_, b) = sorted(scores.items(), key=lambda kv: -kv[1])
        return first if a - b >= self.lead and a >= self.floor else None
