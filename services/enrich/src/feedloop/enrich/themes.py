"""Segments a text into sentences and matches them to the taxonomy's themes by embedding."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from feedloop.enrich.inference import FloatArray, normalise_rows
from feedloop.enrich.taxonomy import Taxonomy

# Sentence ends, line breaks, dashes and bullets used as separators (en and em dash included).
_SENTENCE_END = re.compile(
    r"(?<=[.!?\u2026])\s+(?=\S)|\s*\n+\s*|\s+[-\u2013\u2014\u2022]\s+|(?<=;)\s+"
)
# A contrast splits one sentence into two opinions ("great fabric, but it runs small").
_CONTRAST = re.compile(
    r"(?:,\s*|\s+)(?=(?:but|however|although|though|whereas|except|aber|jedoch|allerdings|"
    r"mais|cependant|pero|sin embargo|aunque|maar|echter|alleen)\b)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
MIN_WORDS = 3
CHUNK_WORDS = 60

Embed = Callable[[Sequence[str]], FloatArray]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _chunks(sentence: str) -> list[str]:
    # Past ~128 tokens the models truncate: long run-on text is cut into word windows.
    words = sentence.split()
    if len(words) <= CHUNK_WORDS:
        return [sentence]
    return [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]


def segment(text: str, *, max_segments: int = 48) -> list[str]:
    """Splits a text into sentence-sized segments (clauses of contrast apart, fragments merged)."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        clauses = [c.strip(" ,") for c in _CONTRAST.split(sentence)]
        if len(clauses) > 1 and min(_words(c) for c in clauses) < MIN_WORDS:
            clauses = [sentence.strip()]
        pieces += [chunk for clause in clauses if clause for chunk in _chunks(clause)]
    merged: list[str] = []
    for piece in pieces:
        if merged and (_words(piece) < MIN_WORDS or _words(merged[-1]) < MIN_WORDS):
            merged[-1] = f"{merged[-1]} {piece}"
        elif _words(piece) > 0 or not merged:
            merged.append(piece)
        else:
            merged[-1] = f"{merged[-1]} {piece}"
    return [m for m in merged if m.strip()][:max_segments]


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
