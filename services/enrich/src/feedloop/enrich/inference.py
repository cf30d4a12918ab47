"""Sentiment models: our head on the multilingual encoder, or any Hugging Face ONNX classifier."""

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from feedloop.enrich.metrics import INFERENCE_SECONDS
from tokenizers import Encoding, Tokenizer

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
_POLARITY = (("neg", -1.0), ("neu", 0.0), ("pos", 1.0))


def file_digest(path: Path, length: int = 8) -> str:
    """Returns the first hex digits of a file's SHA-256 (a version that changes with the file)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def load_tokenizer(path: Path, *, max_tokens: int) -> Tokenizer:
    """Loads a tokenizer.json that truncates at max_tokens and never pads (we pad per batch)."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def create_session(path: Path, *, threads: int) -> ort.InferenceSession:
    """Returns a CPU session with a fixed number of intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads would steal the cores the event loop needs between two forward passes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def pad(encodings: Sequence[Encoding], names: set[str]) -> dict[str, IntArray]:
    """Pads encodings to the longest of them; returns only the inputs a graph declares."""
    width = max(1, max(len(e.ids) for e in encodings))
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = encoding.attention_mask
        types[row, :n] = encoding.type_ids
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: value for name, value in feeds.items() if name in names}


def label_polarity(labels: Sequence[str]) -> FloatArray:
    """Returns each label's polarity in [-1, 1]: by name (neg/neu/pos), else by rank (1-5 stars)."""
    names = [label.lower() for label in labels]
    if len(names) < 2:
        raise ValueError(f"a sentiment model needs at least two labels, got {labels}")
    by_name = [next((w for key, w in _POLARITY if key in name), None) for name in names]
    if all(w is not None for w in by_name):
        return np.array(by_name, dtype=np.float32)
    # Ordered labels such as '1 star'..'5 stars': lowest is most negative.
    return np.linspace(-1.0, 1.0, len(names), dtype=np.float32)


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


class SequenceClassifier:
    """Any Hugging Face sequence-classification model exported to ONNX, loaded from its folder."""

    def __init__(self, folder: Path, *, threads: int) -> None:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text())
        id2label = config["id2label"]
        self.labels = [str(id2label[str(i)]) for i in range(len(id2label))]
        extra = config.get("feedloop", {})
        model_file = folder / extra.get("onnx_file", "model.onnx")
        self.session = create_session(model_file, threads=threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        wanted = extra.get("output", "logits")
        self.output = wanted if wanted in outputs else outputs[0]
        self.tokenizer_path = folder / "tokenizer.json"
        self.polarity = label_polarity(self.labels)
        self.name = f"{folder.name}@{file_digest(model_file)}"

    def probabilities(self, feeds: dict[str, IntArray]) -> FloatArray:
        """Returns class probabilities [batch, labels]."""
        started = time.perf_counter()
        (logits,) = self.session.run([self.output], feeds)
        INFERENCE_SECONDS.labels("sentiment").observe(time.perf_counter() - started)
        return softmax(np.asarray(logits, dtype=np.float32))


class OnnxSentiment:
    """A Hugging Face ONNX classifier as enrich's sentiment model (replaces the default head).

    Dynamically quantised int8 graphs scale activations over the whole input tensor, so each
    item's segments run as one pass of their own: a label never depends on other items.
    """

    def __init__(self, folder: Path, *, threads: int, max_tokens: int) -> None:
        self.classifier = SequenceClassifier(folder, threads=threads)
        self.tokenizer = load_tokenizer(self.classifier.tokenizer_path, max_tokens=max_tokens)
        self.labels = self.classifier.labels
        self.polarity = self.classifier.polarity
        self.name = self.classifier.name

    def probabilities(
        self, texts: Sequence[str], vectors: FloatArray, groups: Sequence[int]
    ) -> FloatArray:
        """Class probabilities [len(texts), labels], one forward pass per group of texts."""
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        start = 0
        for size in groups:
            if size:
                encodings = self.tokenizer.encode_batch(list(texts[start : start + size]))
                feeds = pad(encodings, self.classifier.inputs)
                out[start : start + size] = self.classifier.probabilities(feeds)
            start += size
        return out


class SentimentHead:
    """Our sentiment head on the multilingual encoder's outputs (training/train_heads.py).

    `parts` names what it reads (features.item_input): the item's vector alone ("vector"), or
    the vector with pooled token features, standardised by the training data's `shift`/`scale`.
    """

    def __init__(self, folder: Path) -> None:
        path = folder / "head.npz"
        with np.load(path) as weights:
            self.w1, self.b1 = weights["w1"], weights["b1"]
            self.w2, self.b2 = weights["w2"], weights["b2"]
            self.labels = [str(label) for label in weights["labels"]]
            names = weights["parts"] if "parts" in weights.files else np.array(["vector"])
            self.parts = tuple(str(p) for p in names)
            dim = self.w1.shape[0]
            self.shift = weights["shift"] if "shift" in weights.files else np.zeros(dim, "f4")
            self.scale = weights["scale"] if "scale" in weights.files else np.ones(dim, "f4")
        self.polarity = label_polarity(self.labels)
        self.name = f"{folder.name}@{file_digest(path)}"

    def probabilities(
        self, texts: Sequence[str], vectors: FloatArray, groups: Sequence[int]
    ) -> FloatArray:
        """Class probabilities [len(vectors), labels]; each row depends on its own input only.

        `vectors` holds one input row per item, made of `self.parts`."""
        started = time.perf_counter()
        hidden = np.maximum(((vectors - self.shift) / self.scale) @ self.w1 + self.b1, 0)
        out = softmax(np.asarray(hidden @ self.w2 + self.b2, dtype=np.float32))
        INFERENCE_SECONDS.labels("sentiment").observe(time.perf_counter() - started)
        return out


SentimentModel = SentimentHead | OnnxSentiment


def load_sentiment(folder: Path, *, threads: int, max_tokens: int) -> SentimentModel:
    """Our head when the folder holds head.npz, else a Hugging Face ONNX classifier folder."""
    if (folder / "head.npz").is_file():
        return SentimentHead(folder)
    return OnnxSentiment(folder, threads=threads, max_tokens=max_tokens)


def normalise_rows(vectors: FloatArray) -> FloatArray:
    """Scales each row to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
