"""What one enriched feedback item says: complaint or not, and how severe (pure)."""

from dataclasses import dataclass
from typing import Any

from feedloop.common.events import FeedbackEnriched
from feedloop.prioritize.rows import CesSignal, CsatSignal

UNTHEMED = "unthemed"


@dataclass(frozen=True, slots=True)
class Signals:
    """Severity signals of one feedback item."""

    negative_intensity: float
    nps: int | None
    csat: CsatSignal | None
    ces: CesSignal | None
    rating: float | None

    @property
    def detractor(self) -> bool:
        """An NPS answer of 0..6."""
        return self.nps is not None and self.nps <= 6

    @property
    def low_csat(self) -> bool:
        """A CSAT answer in the lower 40% of its scale."""
        return self.csat is not None and self.csat["normalised"] <= 0.4

    @property
    def high_effort(self) -> bool:
        """A CES answer saying the customer found it hard."""
        return self.ces is not None and self.ces["ease"] < 0.4

    @property
    def low_rating(self) -> bool:
        """A review or in-app rating in the lower 40% of its scale."""
        return self.rating is not None and self.rating <= 0.4


def signals_of(event: FeedbackEnriched) -> Signals:
    """Extracts the severity signals of an enriched item."""
    item: Any = event.item
    nps: int | None = None
    csat: CsatSignal | None = None
    ces: CesSignal | None = None
    for answer in getattr(item, "answers", None) or []:
        if answer.metric == "nps":
            nps = answer.score
        elif answer.metric == "csat":
            span = answer.scale_max - answer.scale_min
            csat = {
                "score": answer.score,
                "scale_min": answer.scale_min,
                "scale_max": answer.scale_max,
                "method": answer.method,
                "normalised": (answer.score - answer.scale_min) / span,
            }
        elif answer.metric == "ces":
            ease = (answer.score - 1) / (answer.scale_max - 1)
            if answer.direction == "lower_is_easier":
                ease = 1 - ease
            ces = {
                "score": answer.score,
                "scale_max": answer.scale_max,
                "direction": answer.direction,
                "ease": ease,
            }
    rating = None
    if getattr(item, "rating", None) is not None:
        scale = getattr(item, "rating_scale", 5)
        rating = float(item.rating) / scale
    sentiment = event.enrichment.sentiment
    return Signals(
        negative_intensity=max(0.0, -sentiment.score),
        nps=nps,
        csat=csat,
        ces=ces,
        rating=rating,
    )


def is_complaint(event: FeedbackEnriched, signals: Signals) -> bool:
    """True when the item reports a problem: negative sentiment, a negative theme, a poor score.

    Praise never opens a complaint issue; a neutral text with a poor score still does, and so
    does a mixed one whose tone on some theme is negative ("lovely dress, but it runs small").
    """
    enrichment = event.enrichment
    if enrichment.sentiment.label == "negative":
        return True
    if any(t.sentiment and t.sentiment.label == "negative" for t in enrichment.themes):
        return True
    return signals.detractor or signals.low_csat or signals.high_effort or signals.low_rating


def direction_of(themes: list[dict[str, Any]], theme: str) -> str | None:
    """The direction enrich named for `theme` among an enrichment's themes (JSON), if any."""
    return next((t.get("direction") for t in themes if t.get("theme") == theme), None)


def theme_of(event: FeedbackEnriched) -> str:
    """The grouping theme: the primary theme, else the first theme found, else 'unthemed'.

    An item whose overall tone is not negative is a complaint through its negative theme (see
    is_complaint), so that theme groups it.
    """
    enrichment = event.enrichment
    negative = [t for t in enrichment.themes if t.sentiment and t.sentiment.label == "negative"]
    if enrichment.sentiment.label != "negative" and negative:
        return max(negative, key=lambda t: t.confidence).theme
    if enrichment.primary_theme:
        return enrichment.primary_theme
    if enrichment.themes:
        return max(enrichment.themes, key=lambda t: t.confidence).theme
    return UNTHEMED
