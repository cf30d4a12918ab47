"""Feedback items as an integrator posts them to ingest, shared by several test packages."""

from datetime import UTC, datetime
from typing import Any


def survey_item(external_id: str, /, *, customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid NPS survey item from the shop (a detractor, score 3, about sizing); `overrides`
    replace fields (external_id and source_system included)."""
    item: dict[str, Any] = {
        "channel": "survey",
        "source_system": "shop",
        "external_id": external_id,
        "customer": {"id": customer_id, "email": "ana@example.com", "tier": "premium"},
        "text": "The jeans run small, I had to return them.",
        "locale": "en-GB",
        "occurred_at": datetime.now(UTC).isoformat(),
        "answers": [{"metric": "nps", "score": 3}],
    }
    return item | overrides
