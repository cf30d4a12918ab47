"""The enrich logic: redaction, then sentiment, themes, language and embedding per item."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
from feedloop.enrich.directions import DirectionFinder
from feedloop.enrich.encoder import MultilingualEncoder
from feedloop.enrich.features import (
    VECTOR_ONLY,
    item_input,
    item_vector,
    segment_inputs,
    word_weights,
)
from feedloop.enrich.inference import (
    FloatArray,
    SentimentHead,
    file_digest,
    load_sentiment,
    normalise_rows,
)
from feedloop.enrich.language import DEFAULT_LANGUAGES, LanguageDetector
from feedloop.enrich.metrics import ITEMS, PII_REDACTIONS, SEGMENTS, THEMES
from feedloop.enrich.pii import redact
from feedloop.enrich.segmentation import segment
from feedloop.enrich.settings import EnrichSettings
from feedloop.enrich.taxonomy import load_taxonomy
from feedloop.enrich.themes import ThemeHead, ThemeMatcher

# Free-text fields a customer writes besides `text` (FeedbackItem channels).
TEXT_FIELDS = ("title", "subject")
EMBEDDING_DECIMALS = 6
SENTIMENT_WEIGHT_FLOOR = 0.05
# The encoder's tokenizer is pure Python: a 12,000-character run without spaces took 1.9 s to
# analyse. No opinion needs more than this many characters in one sentence.
MAX_SEGMENT_CHARS = 600


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
    """Returns the item with its free text redacted (text, title, subject, metadata, url) and
    without contact data (the customer's e-mail, the social handle)."""
    counts: Counter[str] = Counter()
    update: dict[str, Any] = {}
    for name in ("text", *TEXT_FIELDS, "url"):
        value = getattr(item, name, None)
        if isinstance(value, str) and value:
            update[name] = _redact_value(value, counts)
    if item.metadata:
        update["metadata"] = _redact_value(item.metadata, counts)
    if getattr(item, "handle", None):
        # Contact data stops at raw-feedback (issue 13): no later stage needs the handle, and
        # notify reads e-mail addresses from raw-feedback itself (feedloop.notify.contacts).
        update["handle"] = None
        counts["handle"] += 1
    if item.customer.email is not None:
        update["customer"] = item.customer.model_copy(update={"email": None})
    return item.model_copy(update=update), counts


def cut(text: str, *, title: str | None = None, max_segments: int) -> list[str]:
    """The segments the models see of a redacted text (title or subject first), bounded."""
    segments = segment(title, max_segments=max_segments) if title else []
    segments += segment(text, max_segments=max_segments)
    return [s[:MAX_SEGMENT_CHARS] for s in segments[:max_segments]]


class GroupingMap:
    """A learned linear map of item vectors in which complaints of one problem lie together.

    Trained by training/train_heads.py on complaints labelled by problem, in 7 languages; when
    `grouping_map` is on, the embedding events carry (and prioritize groups by) is the item
    vector joined with its unit-length image.
    """

    def __init__(self, path: Path) -> None:
        with np.load(path) as weights:
            self.w = weights["w"].astype(np.float32)
        self.name = f"grouping@{file_digest(path)}"

    @classmethod
    def load(cls, path: Path) -> "GroupingMap | None":
        """The map in `path`, or None when the model folder has none (raw vectors are used)."""
        return cls(path) if path.is_file() else None

    def project(self, unit: FloatArray) -> FloatArray:
        """Returns the unit-length item vector joined with its unit-length image."""
        image = normalise_rows(np.asarray(unit @ self.w, np.float32)[None, :])[0]
        # Beside the item's own direction: the cosine of two items is then the mean of their
        # cosine as texts and as problems, so the map's product-specific residue is diluted.
        joined: FloatArray = np.concatenate([unit, image]).astype(np.float32) / np.sqrt(2.0)
        return joined


class Enricher:
    """Holds the loaded models and turns texts and feedback items into enrichments."""

    def __init__(self, settings: EnrichSettings) -> None:
        threads = settings.intra_op_threads
        self.classifier = load_sentiment(
            settings.model_dir, threads=threads, max_tokens=settings.max_tokens
        )
        # Our own forward pass runs only for a head that reads token features (it costs more).
        reads_tokens = isinstance(self.classifier, SentimentHead) and self.classifier.parts != (
            VECTOR_ONLY
        )
        self.encoder = MultilingualEncoder(threads=threads, token_features=reads_tokens)
        self.taxonomy = load_taxonomy(settings.taxonomy_path)
        theme_head = settings.model_dir / "themes.npz"
        self.matcher = ThemeMatcher(
            self.taxonomy,
            self.embed,
            threshold=settings.theme_threshold,
            head=ThemeHead(theme_head) if theme_head.is_file() else None,
        )
        self.directions = DirectionFinder(
            self.taxonomy, self.embed, heads=settings.model_dir / "directions.npz"
        )
        self.languages = LanguageDetector(
            DEFAULT_LANGUAGES if settings.languages is None else settings.languages
        )
        self.max_segments = settings.max_segments
        self.grouping = (
            GroupingMap.load(settings.model_dir / "grouping.npz") if settings.grouping_map else None
        )
        embedding_name = self.encoder.name
        if self.grouping is not None:
            embedding_name = f"{self.encoder.name}+{self.grouping.name}"
        self.versions = (self.classifier.name, embedding_name, self.taxonomy.label)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Returns unit sentence vectors of texts (used for the taxonomy's examples)."""
        return self.encoder.encode(list(texts))

    def document(self, text: str, *, title: str | None = None, pii: Any = None) -> Document:
        """Cuts an already redacted text (and its title or subject) into segments."""
        full = f"{title}\n{text}" if title else text
        kept = cut(text, title=title, max_segments=self.max_segments)
        return Document(full, kept, dict(pii or {}))

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
        groups = [len(d.segments) for d in documents]
        passes = self.encoder.passes(flat)
        vectors = passes.vectors
        inputs = vectors
        if isinstance(self.classifier, SentimentHead):
            inputs = segment_inputs(passes, self.classifier.parts)
        probabilities = self.classifier.probabilities(flat, inputs, groups)
        ITEMS.labels(source).inc(len(documents))
        SEGMENTS.labels(source).inc(len(flat))
        results, start = [], 0
        for document, size in zip(documents, groups, strict=True):
            end = start + size
            # Each segment's words weigh its vector in the item's embedding.
            weights = word_weights(document.segments)
            overall = probabilities[start:end]
            if size and isinstance(self.classifier, SentimentHead):
                # The head reads the whole item at once (measured better than pooling segments'
                # labels); segments still give each theme its own tone.
                head_input = item_input(passes, slice(start, end), weights, self.classifier.parts)
                overall = self.classifier.probabilities([document.text], head_input[None, :], [1])
            results.append(
                self._enrichment(
                    document, probabilities[start:end], vectors[start:end], weights, overall
                )
            )
            start = end
        return results

    def _enrichment(
        self,
        document: Document,
        probabilities: FloatArray,
        vectors: FloatArray,
        weights: FloatArray,
        overall: FloatArray,
    ) -> Enrichment:
        unit = np.zeros(self.encoder.dim, dtype=np.float32)
        if len(vectors):
            # Length-weighted mean of the segments' directions: the item's place in the space.
            unit = item_vector(vectors, weights)
        language = self.languages.detect(document.text)
        themes = []
        for match in self.matcher.match(vectors, unit if len(vectors) else None):
            rows = match.segments
            themes.append(
                ThemeMatch(
                    theme=match.theme,
                    confidence=round(match.confidence, 4),
                    sentiment=self.sentiment(probabilities[rows]),
                    evidence=document.segments[match.best],
                    direction=self.directions.direction(
                        match.theme,
                        vectors[rows],
                        [document.segments[r] for r in rows],
                        document.text,
                    ),
                )
            )
            THEMES.labels(match.theme).inc()
        embedding: list[float] = []
        if len(vectors):
            grouped = self.grouping.project(unit) if self.grouping is not None else unit
            embedding = np.round(grouped, EMBEDDING_DECIMALS).tolist()
        for kind, n in document.pii.items():
            PII_REDACTIONS.labels(kind).inc(n)
        sentiment_model, embedding_model, taxonomy = self.versions
        return Enrichment(
            sentiment=self.sentiment(overall),
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
