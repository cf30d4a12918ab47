"""The sentiment head's inputs for training: each text cut and pooled as the stage does it.

Texts are cut into segments by the stage's own `cut`, run through our USE-m3 forward pass
(feedloop.enrich.network) and pooled per item by feedloop.enrich.features, so the head is trained
on exactly what it reads in the stage. Cached under .local/cache/use-m3/items.npz by text digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from data import REPO_ROOT

CACHE = REPO_ROOT / ".local" / "cache" / "use-m3" / "items.npz"
PART_ORDER = ("vector", "mean", "max", "hidden")
ITEMS_PER_CALL = 1000  # texts per forward call: bounds the memory of one call
_ROWS: dict[str, np.ndarray] = {}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _compute(texts: Sequence[str]) -> np.ndarray:
    """[len(texts), all parts] as the stage computes them (segments, pass, pooling)."""
    from feedloop.enrich.features import item_input, word_weights
    from feedloop.enrich.network import UseNetwork
    from feedloop.enrich.service import cut
    from feedloop.enrich.settings import EnrichSettings

    max_segments = EnrichSettings.model_fields["max_segments"].default
    network = UseNetwork(threads=2)
    rows = []
    for start in range(0, len(texts), ITEMS_PER_CALL):
        chosen = texts[start : start + ITEMS_PER_CALL]
        batch = [cut(t, max_segments=max_segments) or [t] for t in chosen]
        passes = network.forward([s for segments in batch for s in segments])
        first = 0
        for segments in batch:
            span = slice(first, first + len(segments))
            rows.append(item_input(passes, span, word_weights(segments), PART_ORDER))
            first += len(segments)
        print(f"  token features: {start + len(batch)} / {len(texts)}", flush=True)
    return np.stack(rows)


def item_inputs(texts: Sequence[str], parts: Sequence[str]) -> np.ndarray:
    """[len(texts), sum of the parts' sizes] head inputs, computed once per text."""
    from feedloop.enrich.features import PARTS

    if not _ROWS and CACHE.exists():
        with np.load(CACHE) as z:
            _ROWS.update(zip(z["keys"].tolist(), z["rows"], strict=True))
    keys = [_digest(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in _ROWS}.items())
    if missing:
        computed = _compute([t for _, t in missing])
        _ROWS.update(zip([k for k, _ in missing], computed, strict=True))
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE, keys=np.array(list(_ROWS)), rows=np.stack(list(_ROWS.values())))
    offsets = np.cumsum([0, *(PARTS[p] for p in PART_ORDER)])
    columns = np.concatenate(
        [np.arange(offsets[PART_ORDER.index(p)], offsets[PART_ORDER.index(p) + 1]) for p in parts]
    )
    return np.stack([_ROWS[k][columns] for k in keys]).astype(np.float32)
