"""Building feedback.received records for enrich tests and the benchmark."""

from datetime import UTC, datetime
from typing import Any

from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, FeedbackReceived, deterministic_id


def received(
    external_id: str,
    text: str,
    *,
    customer: str = "c-1",
    channel: str = "support_ticket",
    extra: dict[str, Any] | None = None,
) -> Envelope[FeedbackReceived]:
    """A feedback.received envelope as ingest would write it (event id = feedback id)."""
    now = datetime.now(UTC)
    item: dict[str, Any] = {
        "channel": channel,
        "source_system": "shop",
        "external_id": external_id,
        "customer": {"id": customer, "email": f"{customer}@example.com"},
        "text": text,
        "occurred_at": now.isoformat(),
    }
    if channel == "support_ticket":
        item["ticket_id"] = f"T-{external_id}"
    item |= extra or {}
    feedback_id = deterministic_id("shop", external_id)
    payload = FeedbackReceived.model_validate(
        {
            "feedback_id": feedback_id,
            "received_at": now.isoformat(),
            "client_id": "shop",
            "item": item,
        }
    )
    return Envelope.wrap(
        payload, event_id=feedback_id, producer="ingest", correlation_id=f"cid-{external_id}"
    )


def record(envelope: Envelope[FeedbackReceived], *, prefix: str) -> OutgoingRecord:
    """The raw-feedback record of an envelope, keyed by customer id as ingest does."""
    return encode(envelope, key=envelope.payload.item.customer.id, prefix=prefix)


TEXTS = [
    "The jeans run really small, I had to send them back for a bigger size.",
    "My parcel arrived nine days late and the box was crushed.",
    "Customer service never answered my emails, very frustrating.",
    "Love the fabric, great quality for the price!",
    "I was charged twice for the same order. Call me on +44 20 7946 0958.",
    "Still waiting for my refund three weeks after returning the coat.",
    "The app crashes every time I open the basket.",
    "Thanks, everything was fine.",
]
