"""Matches segments to the taxonomy's themes by embedding."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from feedloop.enrich.inference import FloatArray, normalise_rows
from feedloop.enrich.taxonomy import Taxonomy

Embed = Callable[[Sequence[str]], FloatArray]


@dataclass(frozen=True, slots=True)
class SegmentMatch:
    """A theme matched by some segments of one item."""

    theme: str
    similarity: float
    """How far the best segment clears the calibration (evidence), the ranking key."""
    confidence: float
    segments: list[int]
    best: int


class ThemeMatcher:
    """Scores segments against every theme's examples; keeps those above the calibration.

    A segment matches a theme when its similarity to the theme's closest examples reaches the
    absolute threshold and stands out from its similarity to the other themes by `relative`.
    The relative test is what carries other languages: an English encoder finds a German
    sentence fairly close to every German example, the right theme only a little closer.
    """

    def __init__(self, taxonomy: Taxonomy, embed: Embed, *, threshold: float | None = None) -> None:
        self.taxonomy = taxonomy
        calibration = taxonomy.calibration
        self.threshold = calibration.threshold if threshold is None else threshold
        self.relative = calibration.relative
        self.slope = calibration.slope
        self.top_k = calibration.top_k
        self.ids = [t.id for t in taxonomy.themes]
        examples = [e for t in taxonomy.themes for e in t.examples]
        self.owner = np.array([i for i, t in enumerate(taxonomy.themes) for _ in t.examples])
        # Example embeddings are computed once at start: matching is then one matrix product.
        self.examples = normalise_rows(embed(examples))

    def similarities(self, vectors: FloatArray) -> FloatArray:
        """Returns [segments, themes]: mean of each theme's top-k example cosines."""
        if len(vectors) == 0:
            return np.zeros((0, len(self.ids)), dtype=np.float32)
        cosines = vectors @ self.examples.T
        out = np.empty((len(vectors), len(self.ids)), dtype=np.float32)
        for t in range(len(self.ids)):
            own = cosines[:, self.owner == t]
            k = min(self.top_k, own.shape[1])
            out[:, t] = np.sort(own, axis=1)[:, -k:].mean(axis=1)
        return out

    def evidence(self, vectors: FloatArray) -> FloatArray:
        """Returns [segments, themes]: how far each pair clears both tests (>= 0: a match)."""
        sims = self.similarities(vectors)
        if sims.shape[1] < 2:
            return np.asarray(sims - self.threshold, dtype=np.float32)
        others = (sims.sum(axis=1, keepdims=True) - sims) / (sims.shape[1] - 1)
        return np.asarray(
            np.minimum(sims - self.threshold, sims - others - self.relative), dtype=np.float32
        )

    def confidence(self, evidence: float) -> float:
        """Maps evidence to a confidence: 0.5 where a match starts, logistic around it."""
        return float(1.0 / (1.0 + np.exp(-self.slope * evidence)))

    def match(self, vectors: FloatArray) -> list[SegmentMatch]:
        """Returns the themes some segment matches, strongest first."""
        if len(vectors) == 0:
            return []
        evidence = self.evidence(vectors)
        found = []
        for t, theme in enumerate(self.ids):
            rows = np.flatnonzero(evidence[:, t] >= 0)
            if rows.size == 0:
                continue
            best = int(rows[np.argmax(evidence[rows, t])])
            strength = float(evidence[best, t])
            found.append(
                SegmentMatch(
                    theme=theme,
                    similarity=strength,
                    confidence=self.confidence(strength),
                    segments=[int(r) for r in rows],
                    best=best,
                )
            )
        return sorted(found, key=lambda m: -m.similarity)
