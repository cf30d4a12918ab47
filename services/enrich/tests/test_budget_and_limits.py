"""An item's preparation has a time budget, and what enrich produces fits its contract."""

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, PoisonRecord, header
from feedloop.common.feedback import MAX_TEXT_CHARS
from feedloop.enrich.consumer import prepare_within
from feedloop.enrich.limits import fit_item
from feedloop.enrich.service import Enricher

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic

from .factory import received, record

# "a@b.co" (6 characters) becomes "[EMAIL]" (7): redaction makes such a text longer.
GROWING = "a@b.co "


async def test_an_item_over_its_budget_is_refused_as_too_slow(enricher: Enricher) -> None:
    event = received("slow-1", "The jeans run small. " * 200).payload
    with pytest.raises(PoisonRecord) as refused:
        await prepare_within(enricher, event, budget_s=1e-9)
    assert refused.value.reason == DeadLetterReason.TOO_SLOW
    item, document = await prepare_within(enricher, event, budget_s=60)
    assert document.segments and item.text.startswith("The jeans run small.")


def test_a_text_grown_by_redaction_is_cut_back_to_its_limit(enricher: Enricher) -> None:
    text = (GROWING * (MAX_TEXT_CHARS // len(GROWING)))[:MAX_TEXT_CHARS]
    item, _ = enricher.prepare(received("long-1", text).payload)
    assert len(item.text) > MAX_TEXT_CHARS  # the placeholder is longer than the address
    assert len(fit_item(item).text) == MAX_TEXT_CHARS


async def test_slow_grown_and_invalid_items_end_on_the_dlq_or_enriched_within_limits(
    app_client: AppClient,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    grown = (GROWING * (MAX_TEXT_CHARS // len(GROWING)))[:MAX_TEXT_CHARS]
    # Just under 8 KiB of metadata, over it once every address became a placeholder.
    metadata = {"note": GROWING * 1150}
    envelopes = [
        received("fine-1", "The zip broke after one day.", customer="c-1"),
        received("grown-1", grown, customer="c-2"),
        received("meta-1", "Runs small.", customer="c-3", extra={"metadata": metadata}),
    ]
    await send_all(raw_producer, [record(e, prefix=topic_prefix) for e in envelopes])
    async with app_client():
        out = await read_topic(
            kafka_bootstrap, topic_prefix + topics.ENRICHED, until=lambda rs: len(rs) >= 2
        )
        dead = await read_topic(
            kafka_bootstrap, topic_prefix + topics.dlq_topic(topics.RAW_FEEDBACK), until=bool
        )
    texts = {
        e["payload"]["item"]["external_id"]: e["payload"]["item"]["text"]
        for e in (orjson.loads(r.value or b"") for r in out)
    }
    assert set(texts) == {"fine-1", "grown-1"}
    assert len(texts["grown-1"]) == MAX_TEXT_CHARS and "[EMAIL]" in texts["grown-1"]
    assert [header(d.headers, topics.HEADER_DLQ_REASON) for d in dead] == ["invalid_payload"]
    error = header(dead[0].headers, topics.HEADER_DLQ_ERROR) or ""
    assert "enriched event would be invalid" in error and "metadata" in error


async def test_with_a_budget_nothing_meets_every_item_is_dead_lettered_too_slow(
    app_client: AppClient,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    envelopes = [received(f"s-{i}", "Runs small.", customer=f"c-{i}") for i in range(3)]
    await send_all(raw_producer, [record(e, prefix=topic_prefix) for e in envelopes])
    async with app_client(item_budget_s=1e-9):
        dead = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.dlq_topic(topics.RAW_FEEDBACK),
            until=lambda rs: len(rs) >= 3,
        )
    assert [header(d.headers, topics.HEADER_DLQ_REASON) for d in dead] == ["too_slow"] * 3
