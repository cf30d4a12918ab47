"""raw-feedback -> enriched on the real test broker: once each, poison aside, repeats dropped."""

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.enrich.consumer import UNTHEMED_KEY
from feedloop.enrich.service import Enricher

from tests.support.clients import AppClient, send_all
from tests.support.kafka import Record, read_topic

from .factory import TEXTS, received, record

pytestmark = pytest.mark.kafka


def values(records: list[Record]) -> list[dict[str, Any]]:
    """The decoded JSON values of records."""
    return [orjson.loads(r.value) for r in records if r.value is not None]


async def test_each_feedback_yields_exactly_one_enriched_event_keyed_by_its_theme(
    app_client: AppClient,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
    enricher: Enricher,
) -> None:
    envelopes = [received(f"one-{i}", text, customer=f"c-{i}") for i, text in enumerate(TEXTS)]
    await send_all(raw_producer, [record(e, prefix=topic_prefix) for e in envelopes])
    async with app_client():
        out = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.ENRICHED,
            until=lambda rs: len(rs) >= len(TEXTS),
        )
        await asyncio.sleep(1.0)
        out = await read_topic(kafka_bootstrap, topic_prefix + topics.ENRICHED, idle_s=0.5)
    events = values(out)
    assert len(events) == len(TEXTS)
    by_feedback = {e["payload"]["feedback_id"]: (e, r) for e, r in zip(events, out, strict=True)}
    assert set(by_feedback) == {e.payload.feedback_id for e in envelopes}
    for envelope in envelopes:
        event, rec = by_feedback[envelope.payload.feedback_id]
        enrichment = event["payload"]["enrichment"]
        assert event["event_type"] == "feedback.enriched"
        assert event["event_id"] == enricher.enriched_event_id(envelope.payload.feedback_id)
        assert event["correlation_id"] == envelope.correlation_id
        assert rec.key == (enrichment["primary_theme"] or UNTHEMED_KEY).encode()
        assert header(rec.headers, topics.HEADER_TYPE) == "feedback.enriched"
        assert len(enrichment["embedding"]) == 512
        # Contact data stops at raw-feedback (notify reads it there); free text is redacted.
        assert event["payload"]["item"]["customer"]["email"] is None
        assert event["payload"]["item"]["customer"]["id"] == envelope.payload.item.customer.id
    sizing = by_feedback[envelopes[0].payload.feedback_id][0]["payload"]
    assert sizing["enrichment"]["primary_theme"] == "sizing_fit"
    assert sizing["enrichment"]["sentiment"]["label"] == "negative"
    charged = by_feedback[envelopes[4].payload.feedback_id][0]["payload"]
    assert "[PHONE]" in charged["item"]["text"]
    assert "7946" not in charged["item"]["text"]
    assert charged["enrichment"]["pii"] == {"redacted": True, "counts": {"phone": 1}}


async def test_poison_records_go_to_the_dlq_with_reasons_while_the_partition_keeps_flowing(
    app_client: AppClient, raw_producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = topic_prefix + topics.RAW_FEEDBACK
    good = [received(f"good-{i}", TEXTS[i]) for i in range(2)]
    body = orjson.loads(record(received("poison-1", TEXTS[0]), prefix=topic_prefix).value)
    wrong_version = orjson.dumps(body | {"schema_version": 99})
    wrong_type = orjson.dumps(body | {"event_type": "feedback.exploded"})
    invalid = orjson.dumps(body | {"payload": {"feedback_id": "x"}})
    sequence = [
        record(good[0], prefix=topic_prefix).value,
        b"{not json",
        wrong_type,
        wrong_version,
        invalid,
        record(good[1], prefix=topic_prefix).value,
    ]
    # One partition: the good record after the poison ones must still come through.
    for value in sequence:
        await (await raw_producer.send(topic, value=value, key=b"c-1", partition=0))
    async with app_client():
        dead = await read_topic(
            kafka_bootstrap, topic + ".dlq", until=lambda rs: len(rs) >= 4, timeout_s=30
        )
        out = await read_topic(
            kafka_bootstrap, topic_prefix + topics.ENRICHED, until=lambda rs: len(rs) >= 2
        )
    reasons = [header(r.headers, topics.HEADER_DLQ_REASON) for r in dead]
    assert reasons == [
        "invalid_json",
        "unknown_event_type",
        "unsupported_schema_version",
        "invalid_payload",
    ]
    assert [r.value for r in dead] == sequence[1:5]
    for r in dead:
        assert header(r.headers, topics.HEADER_DLQ_SOURCE_TOPIC) == topic
        assert header(r.headers, topics.HEADER_DLQ_CONSUMER_GROUP) == topics.CONSUMER_GROUP_ENRICH
        assert header(r.headers, topics.HEADER_DLQ_ERROR)
    assert sorted(e["payload"]["feedback_id"] for e in values(out)) == sorted(
        g.payload.feedback_id for g in good
    )


async def test_an_item_that_fails_alone_is_dead_lettered_and_the_rest_of_its_batch_enriched(
    app_client: AppClient,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
    enricher: Enricher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = enricher.analyse

    def analyse(documents: Any, **kwargs: Any) -> Any:
        if any("EXPLODE" in d.text for d in documents):
            raise RuntimeError("the model cannot read this item")
        return real(documents, **kwargs)

    monkeypatch.setattr(enricher, "analyse", analyse)
    envelopes = [received(f"batch-{i}", TEXTS[i]) for i in range(4)]
    envelopes.insert(2, received("batch-bad", "EXPLODE on contact"))
    await send_all(raw_producer, [record(e, prefix=topic_prefix) for e in envelopes])
    async with app_client():
        out = await read_topic(
            kafka_bootstrap, topic_prefix + topics.ENRICHED, until=lambda rs: len(rs) >= 4
        )
        dead = await read_topic(
            kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK + ".dlq", until=lambda rs: rs != []
        )
    assert len(out) == 4
    assert [header(r.headers, topics.HEADER_DLQ_REASON) for r in dead] == ["processing_error"]
    assert "cannot read this item" in (header(dead[0].headers, topics.HEADER_DLQ_ERROR) or "")
    assert orjson.loads(dead[0].value)["payload"]["item"]["external_id"] == "batch-bad"


async def test_a_repeated_input_event_yields_no_second_enriched_event(
    app_client: AppClient, raw_producer: AIOKafkaProducer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    first = record(received("repeat-1", TEXTS[1]), prefix=topic_prefix)
    other = record(received("repeat-2", TEXTS[2]), prefix=topic_prefix)
    await send_all(raw_producer, [first, first, other])
    async with app_client():
        await read_topic(
            kafka_bootstrap, topic_prefix + topics.ENRICHED, until=lambda rs: len(rs) >= 2
        )
        # The same event again, later, at another offset: still a repeat.
        await send_all(raw_producer, [first])
        marker = record(received("repeat-3", TEXTS[3]), prefix=topic_prefix)
        await send_all(raw_producer, [marker])
        out = await read_topic(
            kafka_bootstrap, topic_prefix + topics.ENRICHED, until=lambda rs: len(rs) >= 3
        )
        await asyncio.sleep(1.0)
        out = await read_topic(kafka_bootstrap, topic_prefix + topics.ENRICHED, idle_s=0.5)
    ids = [e["payload"]["item"]["external_id"] for e in values(out)]
    assert sorted(ids) == ["repeat-1", "repeat-2", "repeat-3"]
