"""An item's input to the sentiment head: its vector and, optionally, pooled token features.

Items are analysed as segments (sentences); the head reads the whole item at once. Each part is
pooled over the item's segments here, the same way in the stage and in training:
- `vector`: the unit length, word-weighted mean of the segments' sentence vectors;
- `mean`: the mean over every token of the item of the layer-normed n-gram features;
- `max`: their maximum over every token of the item;
- `hidden`: the word-weighted mean of the segments' DAN hidden layers.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from feedloop.enrich.inference import normalise_rows
from feedloop.enrich.network import DIM, FEATS, HIDDEN, Passes

FloatArray = npt.NDArray[np.float32]
PARTS = {"vector": DIM, "mean": FEATS, "max": FEATS, "hidden": HIDDEN}
VECTOR_ONLY = ("vector",)


def word_weights(segments: Sequence[str]) -> FloatArray:
    """Each segment's weight in its item: its word count (at least 1)."""
    return np.array([max(len(s.split()), 1) for s in segments], np.float32)


def item_vector(vectors: FloatArray, weights: FloatArray) -> FloatArray:
    """The item's place in the space: unit word-weighted mean of its segments' vectors."""
    pooled = (vectors * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1.0)
    unit: FloatArray = normalise_rows(pooled[None, :])[0]
    return unit


def item_input(
    passes: Passes, rows: slice, weights: FloatArray, parts: Sequence[str]
) -> FloatArray:
    """The head's input for one item whose segments are `rows` of `passes`."""
    pieces = []
    for part in parts:
        if part == "vector":
            pieces.append(item_vector(passes.vectors[rows], weights))
        elif part == "mean":
            tokens = passes.tokens[rows].astype(np.float32)
            total = (passes.token_mean[rows] * tokens[:, None]).sum(axis=0)
            pieces.append(total / max(float(tokens.sum()), 1.0))
        elif part == "max":
            pieces.append(passes.token_max[rows].max(axis=0))
        elif part == "hidden":
            hidden = (passes.hidden[rows] * weights[:, None]).sum(axis=0)
            pieces.append(hidden / max(float(weights.sum()), 1.0))
        else:
            raise ValueError(f"unknown head input part {part!r}; known: {sorted(PARTS)}")
    return np.concatenate(pieces).astype(np.float32)


def segment_inputs(passes: Passes, parts: Sequence[str]) -> FloatArray:
    """The head's input for every segment on its own (each segment read as an item)."""
    columns = {
        "vector": passes.vectors,
        "mean": passes.token_mean,
        "max": passes.token_max,
        "hidden": passes.hidden,
    }
    unknown = set(parts) - set(columns)
    if unknown:
        raise ValueError(f"unknown head input parts {sorted(unknown)}; known: {sorted(PARTS)}")
    return np.concatenate([columns[p] for p in parts], axis=1).astype(np.float32)
