"""The pure pieces of erasure: what is kept, what goes, what an index forgets (no broker)."""

import asyncio

from aiokafka import TopicPartition
from feedloop.common.topic_erasure import TopicCut
from feedloop.ingest.idempotency import IdempotencyStore
from feedloop.ingest.rights import CustomerIndex, Entry
from feedloop.prioritize.rights import anonymised_enrichment, anonymised_ref, title_quotes


def test_an_anonymised_ref_keeps_the_segment_and_loses_the_contact_and_item_id() -> None:
    ref = {
        "feedback_id": "f-1",
        "source_system": "shop",
        "external_id": "order-77-review",
        "channel": "review",
        "customer": {
            "id": "c-1",
            "email": "ann@example.org",
            "segment": "women",
            "tier": "premium",
        },
    }
    out = anonymised_ref(ref, "erased-x")
    assert out["customer"] == {"id": "erased-x", "segment": "women", "tier": "premium"}
    assert out["external_id"] == "erased-x" and out["feedback_id"] == "f-1"


def test_evidence_sentences_go_and_the_themes_stay() -> None:
    enrichment = {
        "themes": [{"theme": "delivery", "confidence": 0.9, "evidence": "my parcel was late"}],
        "primary_theme": "delivery",
    }
    out = anonymised_enrichment(enrichment)
    assert out["themes"] == [{"theme": "delivery", "confidence": 0.9, "evidence": None}]
    assert out["primary_theme"] == "delivery"


def test_a_title_made_from_the_text_is_recognised_and_another_is_not() -> None:
    text = "The  courier left my parcel\nin the rain and it arrived late"
    assert title_quotes(
        "delivery: The courier left my parcel in the rain and it...", "delivery", text
    )
    assert not title_quotes("delivery complaints", "delivery", text)
    assert not title_quotes("delivery: something else entirely", "delivery", text)
    assert not title_quotes("delivery complaints", "delivery", "")


def test_forgetting_a_customer_drops_their_ids_and_keys_and_nobody_elses() -> None:
    async def scenario() -> None:
        store = IdempotencyStore(max_entries=100, ttl_s=3600)
        index = CustomerIndex(max_customers=10)
        for customer, feedback_id, key in (
            ("c1", "f1", "k1"),
            ("c1", "f2", None),
            ("c2", "f3", "k3"),
        ):
            store.remember(feedback_id)
            if key:
                store.remember_key("shop", key, "digest")
            index.note(customer, Entry(feedback_id, "shop", key))
        assert index.forget("c1", store) == {"idempotency_ids": 2, "idempotency_keys": 1}
        assert not store.known("f1") and not store.known("f2") and store.known("f3")
        assert store.key_entries("shop") == 1
        assert index.forget("c1", store) == {"idempotency_ids": 0, "idempotency_keys": 0}

    asyncio.run(scenario())


def test_the_index_stays_bounded_by_customers() -> None:
    index = CustomerIndex(max_customers=2)
    for n in range(5):
        index.note(f"c{n}", Entry(f"f{n}", "shop", None))
    assert len(index) == 2


def test_a_topic_cut_survives_its_json_form() -> None:
    cut = TopicCut({TopicPartition("t.raw-feedback", 0): 12, TopicPartition("t.closed", 3): 4})
    assert TopicCut.from_json(cut.as_json()) == cut


def test_enrich_passes_no_social_handle_downstream() -> None:
    from feedloop.common.feedback import SocialFeedback
    from feedloop.enrich.service import redact_item

    item = SocialFeedback(
        source_system="shop",
        external_id="s-1",
        customer={"id": "c-1"},
        text="Late again",
        occurred_at="2026-12-01T10:00:00Z",
        platform="twitter",
        handle="@ann_l",
    )
    redacted, counts = redact_item(item)
    assert redacted.handle is None and counts["handle"] == 1
    assert redacted.text == "Late again" and redacted.platform == "twitter"
