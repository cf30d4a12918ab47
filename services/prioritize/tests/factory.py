"""Building feedback.enriched events for tests and benchmarks."""

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, FeedbackEnriched, deterministic_id

DIM = 384


def theme_vector(name: str, *, noise: float = 0.0, seed: int = 0) -> list[float]:
    """A unit vector per name; noise adds a little per-seed variation around it."""
    base = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    vector = base.standard_normal(DIM)
    if noise:
        vector += noise * np.random.default_rng(seed).standard_normal(DIM)
    return (vector / np.linalg.norm(vector)).astype(float).tolist()


def enriched(
    external_id: str,
    *,
    customer: str = "c-1",
    theme: str | None = "sizing",
    cluster: str | None = None,
    label: str = "negative",
    score: float = -0.8,
    answers: list[dict[str, Any]] | None = None,
    occurred_at: datetime | None = None,
    tier: str | None = "standard",
    arr: float | None = None,
    segment: str | None = "b2c",
    text: str = "The jeans run small, I had to return them.",
    noise: float = 0.05,
    direction: str | None = None,
) -> FeedbackEnriched:
    """A feedback.enriched payload (survey when answers are given, else a support ticket)."""
    at = occurred_at or datetime.now(UTC)
    item: dict[str, Any] = {
        "source_system": "shop",
        "external_id": external_id,
        "customer": {"id": customer, "tier": tier, "segment": segment}
        | ({"value": {"arr": arr}} if arr is not None else {}),
        "text": text,
        "occurred_at": at.isoformat(),
    }
    if answers:
        item |= {"channel": "survey", "answers": answers}
    else:
        item |= {"channel": "support_ticket", "ticket_id": f"T-{external_id}"}
    sentiment = {"label": label, "score": score, "confidence": 0.9}
    return FeedbackEnriched.model_validate(
        {
            "feedback_id": deterministic_id("shop", external_id),
            "received_at": at.isoformat(),
            "item": item,
            "enrichment": {
                "sentiment": sentiment,
                "themes": [
                    {
                        "theme": theme,
                        "confidence": 0.9,
                        "sentiment": sentiment,
                        "direction": direction,
                    }
                ]
                if theme
                else [],
                "primary_theme": theme,
                "language": {"code": "en", "confidence": 0.99},
                "pii": {"redacted": False},
                "embedding": theme_vector(
                    cluster or theme or "none", noise=noise, seed=hash(external_id) % 10_000
                ),
            },
        }
    )


def record(payload: FeedbackEnriched, *, prefix: str, key: str | None = None) -> OutgoingRecord:
    """The Kafka record of an enriched event, keyed by its primary theme (or a given key)."""
    envelope = Envelope.wrap(
        payload,
        event_id=deterministic_id("feedback.enriched", payload.feedback_id),
        producer="enrich",
        correlation_id=payload.feedback_id,
    )
    return encode(envelope, key=key or payload.enrichment.primary_theme or "-", prefix=prefix)
