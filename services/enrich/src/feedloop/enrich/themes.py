"""Finds the taxonomy's themes in an item: a trained head where it knows the theme, examples else.

Themes the head was trained on are scored by its per-theme logistic output against a threshold
calibrated per theme (training/train_heads.py); a theme added to the taxonomy YAML after training
is scored by its examples (prototypes) with the taxonomy's calibration, so it works at once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


class ThemeHead:
    """A multi-label logistic head over the encoder's vectors, one calibrated threshold each."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as weights:
            self.w, self.b = weights["w"], weights["b"]
            thresholds = np.clip(weights["thresholds"], 1e-4, 1 - 1e-4)
            self.ids = [str(t) for t in weights["themes"]]
        # Evidence is the logit's lead over the threshold's logit: 0 where a match starts.
        self.cut = np.log(thresholds / (1 - thresholds)).astype(np.float32)

    def evidence(self, vectors: FloatArray) -> FloatArray:
        """Returns [rows, head themes]: logit minus the theme's threshold logit."""
        return np.asarray(vectors @ self.w + self.b - self.cut, dtype=np.float32)


class ThemeMatcher:
    """Scores segments against every theme's examples; keeps those above the calibration.

    A segment matches a theme when its similarity to the theme's closest examples reaches the
    absolute threshold and stands out from its similarity to the other themes by `relative`.
    The relative test is what carries other languages: an English encoder finds a German
    sentence fairly close to every German example, the right theme only a little closer.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        embed: Embed,
        *,
        threshold: float | None = None,
        head: ThemeHead | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.head = head
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

    def prototype_evidence(self, vectors: FloatArray) -> FloatArray:
        """Returns [segments, themes]: how far each pair clears both example tests (cosine)."""
        sims = self.similarities(vectors)
        if sims.shape[1] < 2:
            return np.asarray(sims - self.threshold, dtype=np.float32)
        others = (sims.sum(axis=1, keepdims=True) - sims) / (sims.shape[1] - 1)
        return np.asarray(
            np.minimum(sims - self.threshold, sims - others - self.relative), dtype=np.float32
        )

    def evidence(self, vectors: FloatArray) -> FloatArray:
        """Returns [rows, themes] in logit units (>= 0: a match; sigmoid: the confidence)."""
        out = self.slope * self.prototype_evidence(vectors)
        if self.head is not None and len(vectors):
            learned = self.head.evidence(vectors)
            for column, theme in enumerate(self.head.ids):
                if theme in self.ids:
                    out[:, self.ids.index(theme)] = learned[:, column]
        return np.asarray(out, dtype=np.float32)

    def match(self, vectors: FloatArray, item: FloatArray | None = None) -> list[SegmentMatch]:
        """Returns the themes the item matches, strongest first, with the segments that carry them.

        A theme is found when a segment or the whole item (`item`, its pooled vector) clears the
        calibration; its segments are those that clear it, or else the closest one.
        """
        if len(vectors) == 0:
            return []
        evidence = self.evidence(vectors)
        whole = self.evidence(item[None, :])[0] if item is not None else None
        found = []
        for t, theme in enumerate(self.ids):
            strength = float(evidence[:, t].max())
            if whole is not None:
                strength = max(strength, float(whole[t]))
            if strength < 0:
                continue
            rows = np.flatnonzero(evidence[:, t] >= 0)
            best = int(np.argmax(evidence[:, t]))
            found.append(
                SegmentMatch(
                    theme=theme,
                    similarity=strength,
                    confidence=float(1.0 / (1.0 + np.exp(-strength))),
                    segments=[int(r) for r in rows] if rows.size else [best],
                    best=best,
                )
            )
        return sorted(found, key=lambda m: -m.similarity)
