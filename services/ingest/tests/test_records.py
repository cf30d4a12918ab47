"""ingest's hand-made records are byte for byte what the envelope models would produce."""

from datetime import UTC, datetime
from typing import Any

import pytest
from feedloop.common.codec import encode
from feedloop.common.events import Envelope, FeedbackReceived, deterministic_id
from feedloop.ingest.service import ITEM_ADAPTER, ITEMS_ADAPTER, feedback_id_of, received_record

from .conftest import survey

BASE = {"source_system": "shop", "occurred_at": "2026-05-01T12:00:00+02:00", "text": "Größe ✓"}
ITEMS: list[dict[str, Any]] = [
    survey("s-1", answers=[{"metric": "nps", "score": 9}, {"metric": "csat", "score": 4}]),
    BASE
    | {
        "channel": "review",
        "external_id": "r-1",
        "customer": {"id": "c-2", "value": {"arr": 1234.5, "currency": "USD"}},
        "rating": 4.5,
        "platform": "shop",
        "metadata": {"nested": {"list": [1, 2.5, None, True, "x"]}, "big": 2**53},
    },
    BASE
    | {
        "channel": "support_ticket",
        "external_id": "t-1",
        "customer": {"id": "c-3", "email": "Jörg@Bücher.example"},
        "ticket_id": "T-9",
        "product_refs": ["p-1", "p-2"],
    },
    BASE
    | {"channel": "chat", "external_id": "ch-1", "customer": {"id": "c-4"}, "conversation_id": "k"},
    BASE
    | {"channel": "email", "external_id": "e-1", "customer": {"id": "c-5"}, "subject": 'Re: "x"'},
    BASE
    | {
        "channel": "social",
        "external_id": "so-1",
        "customer": {"id": "c-6"},
        "platform": "x",
        "followers": 10,
        "text": "line one\nline two\ttab \\ backslash \u2028",
    },
    BASE | {"channel": "in_app", "external_id": "a-1", "customer": {"id": "c-7"}, "rating": 2},
]
MOMENTS = [
    datetime(2026, 12, 7, 8, 1, 2, 345678, tzinfo=UTC),
    datetime(2026, 12, 7, 8, 1, 2, tzinfo=UTC),  # no microseconds: written without a fraction
    datetime(2026, 12, 7, 8, 1, 2, 5, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("key", [None, "retry-7"])
@pytest.mark.parametrize("raw", ITEMS, ids=[str(i["channel"]) for i in ITEMS])
def test_received_record_is_what_the_envelope_models_encode(
    raw: dict[str, Any], key: str | None, moment: datetime
) -> None:
    item = ITEM_ADAPTER.validate_python(raw)
    feedback_id = feedback_id_of(item.source_system, item.external_id)
    made = received_record(
        item,
        feedback_id=feedback_id,
        received_at=moment,
        client_id="shop",
        idempotency_key=key,
        correlation_id="corr-1",
        topic="p.raw-feedback",
    )
    payload = FeedbackReceived(
        feedback_id=feedback_id,
        received_at=moment,
        client_id="shop",
        idempotency_key=key,
        item=item,
    )
    envelope = Envelope.wrap(
        payload,
        event_id=feedback_id,
        producer="ingest",
        correlation_id="corr-1",
        occurred_at=moment,
    )
    expected = encode(envelope, key=item.customer.id, prefix="p.")
    assert made == expected
    assert Envelope[FeedbackReceived].model_validate_json(made.value) == envelope


@pytest.mark.parametrize(
    ("source_system", "external_id"),
    [("shop", "1"), ("a.b:c", "x/y#z+1-2@3"), ("s" * 200, "e" * 200)],
)
def test_feedback_ids_are_deterministic_ids(source_system: str, external_id: str) -> None:
    assert feedback_id_of(source_system, external_id) == deterministic_id(
        "feedback", source_system, external_id
    )


def test_a_batch_validates_as_its_items_do() -> None:
    together = ITEMS_ADAPTER.validate_python(ITEMS)
    assert together == [ITEM_ADAPTER.validate_python(raw) for raw in ITEMS]
