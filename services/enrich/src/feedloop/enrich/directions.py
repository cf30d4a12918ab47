"""Which of a theme's two opposite poles a complaint names ("runs small" vs "runs large").

Opposite complaints of one theme sit close in the encoder's space (both talk about size), so
grouping by embedding alone merges them although they need opposite fixes. The taxonomy gives a
theme's poles example phrases in several languages; a complaint takes the pole whose examples its
theme's segments are closer to, only when that pole is close (`direction_floor`) and clearly leads
the other (`direction_lead`): a vague mention names no pole and may join either.

Where the model folder holds trained direction heads (`directions.npz`, written by
training/train_heads.py), a theme's pole comes from its head instead: a three-way softmax (pole A,
pole B, neither) read on the mean of the theme's segment vectors, naming a pole when its
probability reaches the head's cut. Measured 5-fold on the grouping complaints (metrics.json), the
heads name the pole of far more complaints than the examples do ("runs really small" got none).

A theme with `direction_cues` in the taxonomy reads them first, on its segments' text (cues.py):
the vectors take product names for poles, the cues do not. Only where the cues name no pole (none
found, or both poles without a clear lead) do the vectors decide.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from feedloop.enrich.cues import ThemeCues
from feedloop.enrich.inference import FloatArray, normalise_rows
from feedloop.enrich.taxonomy import Taxonomy

Embed = Callable[[Sequence[str]], FloatArray]


class DirectionHeads:
    """Trained per-theme direction heads: (pole A, pole B, neither) softmax on a vector."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as z:
            self.cut = float(z["cut"])
            self.heads = {
                str(theme): (
                    [str(p) for p in poles],
                    w.astype(np.float32),
                    b.astype(np.float32),
                )
                for theme, poles, w, b in zip(z["themes"], z["poles"], z["w"], z["b"], strict=True)
            }

    def __contains__(self, theme: str) -> bool:
        return theme in self.heads

    def probabilities(self, theme: str, vectors: FloatArray) -> dict[str, float]:
        """Each pole's probability for the segments' mean direction."""
        poles, w, b = self.heads[theme]
        if not len(vectors):
            return dict.fromkeys(poles, 0.0)
        pooled = normalise_rows(vectors.mean(axis=0, keepdims=True))[0]
        z = pooled @ w + b
        p = np.exp(z - z.max())
        p /= p.sum()
        return {pole: float(p[k]) for k, pole in enumerate(poles)}

    def direction(self, theme: str, vectors: FloatArray) -> str | None:
        """The pole whose probability reaches the cut, or None."""
        pole, p = max(self.probabilities(theme, vectors).items(), key=lambda kv: kv[1])
        return pole if p >= self.cut else None


class DirectionFinder:
    """Names a theme's pole: its trained head where there is one, else its pole examples."""

    def __init__(self, taxonomy: Taxonomy, embed: Embed, heads: Path | None = None) -> None:
        self.heads = DirectionHeads(heads) if heads is not None and heads.is_file() else None
        self.lead = taxonomy.calibration.direction_lead
        self.floor = taxonomy.calibration.direction_floor
        self.cues = {t.id: c for t in taxonomy.themes if (c := ThemeCues.of(t)) is not None}
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

    def direction(
        self, theme: str, vectors: FloatArray, texts: Sequence[str] = (), whole: str = ""
    ) -> str | None:
        """Returns the pole the segments clearly lean to, or None (no poles, or too close).

        `texts` are the segments' words: the theme's cues, where it has them, are read first, then
        on the `whole` item's text (the theme's segments may leave out "..., it is far too tight").
        """
        cues = self.cues.get(theme)
        if cues is not None:
            for text in (" ".join(texts), whole):
                named = cues.pole(text) if text else None
                if named is not None:
                    return named
        if self.heads is not None and theme in self.heads:
            learned = self.heads.direction(theme, vectors)
            if learned is not None:
                return learned
        scores = self.scores(theme, vectors)
        if len(scores) != 2:
            return None
        (first, a), (_, b) = sorted(scores.items(), key=lambda kv: -kv[1])
        return first if a - b >= self.lead and a >= self.floor else None
