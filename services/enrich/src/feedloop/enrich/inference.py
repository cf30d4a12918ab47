"""ONNX Runtime inference: a generic sequence classifier and a sentence encoder sharing one
tokenisation, run on length-sorted sub-batches."""

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
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


class SentenceEncoder:
    """A transformer encoder whose token states are mean-pooled into sentence vectors."""

    def __init__(self, path: Path, *, threads: int, name: str) -> None:
        self.session = create_session(path, threads=threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.name = f"{name}@{file_digest(path)}"

    def mean_pooled(self, feeds: dict[str, IntArray], mask: IntArray) -> FloatArray:
        """Returns the mean of the token states over the mask [batch, dim] (not normalised)."""
        started = time.perf_counter()
        (states,) = self.session.run([self.output], feeds)
        INFERENCE_SECONDS.labels("embedding").observe(time.perf_counter() - started)
        weights = mask[:, :, None].astype(np.float32)
        sums = (np.asarray(states, dtype=np.float32) * weights).sum(axis=1)
        return np.asarray(sums / np.maximum(weights.sum(axis=1), 1.0), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SegmentOutputs:
    """Model outputs for a list of text segments, in the order given."""

    probabilities: FloatArray
    vectors: FloatArray
    tokens: IntArray


class TextModels:
    """Runs the sentiment classifier and the sentence encoder on one shared tokenisation.

    The classifier runs one item's segments per pass by default: dynamically quantised int8
    graphs scale activations over the whole input tensor, so in a batch of other items' text a
    segment's label would depend on its batch-mates (5 % of labels flipped on our labelled set).
    The fp32-compute encoder is batch-invariant (cosine 1.000000 to single runs) and runs in
    length-sorted sub-batches across items.
    """

    def __init__(
        self,
        classifier: SequenceClassifier,
        encoder: SentenceEncoder,
        *,
        tokenizer_path: Path,
        embedding_tokenizer_path: Path,
        max_tokens: int,
        batch_size: int,
        classifier_per_group: bool = True,
    ) -> None:
        self.classifier = classifier
        self.encoder = encoder
        self.batch_size = batch_size
        self.classifier_per_group = classifier_per_group
        self.tokenizer = load_tokenizer(tokenizer_path, max_tokens=max_tokens)
        # Encode each text once when both models read the same vocabulary (our default).
        self.shared = tokenizer_path.read_bytes() == embedding_tokenizer_path.read_bytes()
        self.embedding_tokenizer = (
            self.tokenizer
            if self.shared
            else load_tokenizer(embedding_tokenizer_path, max_tokens=max_tokens)
        )
        self.dim = int(self.encoder.session.get_outputs()[0].shape[-1] or 0)

    def run(self, texts: Sequence[str], groups: Sequence[int] | None = None) -> SegmentOutputs:
        """Sentiment probabilities and pooled vectors of each text.

        `groups` gives the sizes of consecutive runs of texts that belong together (the
        segments of one item); by default every text stands alone.
        """
        n = len(texts)
        labels = len(self.classifier.labels)
        if n == 0:
            return SegmentOutputs(
                np.zeros((0, labels), np.float32),
                np.zeros((0, self.dim), np.float32),
                np.zeros(0, np.int64),
            )
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        embedding_encodings = (
            encodings
            if self.shared
            else self.embedding_tokenizer.encode_batch(list(texts), add_special_tokens=True)
        )
        # Sorting by length keeps padding (wasted compute) small inside each sub-batch.
        order = sorted(range(n), key=lambda i: len(encodings[i].ids))
        probabilities = np.empty((n, labels), dtype=np.float32)
        for rows in self._classifier_batches(order, groups or [1] * n):
            feeds = pad([encodings[i] for i in rows], self.classifier.inputs)
            probabilities[rows] = self.classifier.probabilities(feeds)
        vectors = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            feeds = pad(
                [embedding_encodings[i] for i in rows], self.encoder.inputs | {"attention_mask"}
            )
            mask = feeds["attention_mask"]
            if "attention_mask" not in self.encoder.inputs:
                feeds.pop("attention_mask")
            vectors[rows] = self.encoder.mean_pooled(feeds, mask)
        tokens = np.array([len(e.ids) for e in embedding_encodings], dtype=np.int64)
        return SegmentOutputs(probabilities, vectors, tokens)

    def _classifier_batches(self, order: list[int], groups: Sequence[int]) -> list[list[int]]:
        if not self.classifier_per_group:
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches, start = [], 0
        for size in groups:
            if size:
                batches.append(list(range(start, start + size)))
            start += size
        return batches


def normalise_rows(vectors: FloatArray) -> FloatArray:
    """Scales each row to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
