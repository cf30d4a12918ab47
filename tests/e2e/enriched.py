"""feedback.enriched events as enrich would write them, to drive prioritize on its own."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, FeedbackEnriched, deterministic_id

DIM = 384


def _direction(name: str, rng_seed: int | None = None, noise: float = 0.0) -> list[float]:
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).standard_normal(DIM)
    if noise and rng_seed is not None:
        vector = vector + noise * np.random.default_rng(rng_seed).standard_normal(DIM)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def enrichment(theme: str, sentiment: dict[str, Any], embedding: list[float]) -> dict[str, Any]:
    """The `enrichment` of an English item about one theme (confident, nothing redacted)."""
    return {
        "sentiment": sentiment,
        "themes": [{"theme": theme, "confidence": 0.9, "sentiment": sentiment}],
        "primary_theme": theme,
        "language": {"code": "en", "confidence": 0.99},
        "pii": {"redacted": False},
        "embedding": embedding,
    }


def complaint(n: int, *, run: str, theme: str, customer: str) -> FeedbackEnriched:
    """A negative support ticket about a theme; its embedding sits near the theme's direction."""
    at = datetime.now(UTC) - timedelta(minutes=n % 600)
    sentiment = {"label": "negative", "score": -0.8, "confidence": 0.9}
    return FeedbackEnriched.model_validate(
        {
            "feedback_id": deterministic_id("shop", f"{run}-{n}"),
            "received_at": at.isoformat(),
            "item": {
                "channel": "support_ticket",
                "ticket_id": f"T-{run}-{n}",
                "source_system": "shop",
                "external_id": f"{run}-{n}",
                "customer": {"id": customer, "tier": "standard"},
                "text": f"Problem number {n} with {theme}.",
                "occurred_at": at.isoformat(),
            },
            "enrichment": enrichment(theme, sentiment, _direction(theme, rng_seed=n, noise=0.1)),
        }
    )


def record(payload: FeedbackEnriched, *, prefix: str) -> OutgoingRecord:
    """The record enrich would write: deterministic event id, keyed by the primary theme."""
    envelope = Envelope.wrap(
        payload,
        event_id=deterministic_id("feedback.enriched", payload.feedback_id),
        producer="enrich",
        correlation_id=payload.feedback_id,
    )
    return encode(envelope, key=payload.enrichment.primary_theme, prefix=prefix)


def complaints(count: int, *, run: str, prefix: str, themes: int = 6) -> list[OutgoingRecord]:
    """`count` complaints over a few themes and many customers, as records for `enriched`."""
    return [
        record(
            complaint(n, run=run, theme=f"theme-{n % themes}", customer=f"{run}-c{n % 97}"),
            prefix=prefix,
        )
        for n in range(count)
    ]


def feedback_ids(records: list[OutgoingRecord]) -> set[str]:
    """The feedback ids the records carry."""
    return {orjson.loads(r.value)["payload"]["feedback_id"] for r in records}
