"""Values SQLite takes and PostgreSQL refuses stall nothing: the record goes to the DLQ alone
and the partition flows on, on both databases."""

from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, header

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually

from .factory import enriched, record


def mutated(external_id: str, prefix: str, change: dict[str, Any], **kwargs: Any) -> OutgoingRecord:
    """An enriched record whose item a foreign producer changed (bypassing our models)."""
    good = record(enriched(external_id, **kwargs), prefix=prefix)
    value = orjson.loads(good.value)
    for path, new in change.items():
        *parents, leaf = path.split(".")
        target = value["payload"]["item"]
        for name in parents:
            if target.get(name) is None:
                target[name] = {}
            target = target[name]
        target[leaf] = new
    return OutgoingRecord(good.topic, good.key, orjson.dumps(value), good.headers)


async def test_unstorable_values_are_dead_lettered_alone_and_the_rest_is_stored(
    app_client: AppClient,
    database_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    good = [enriched(f"g{i}", customer=f"c-{i}") for i in range(4)]
    bad = [
        mutated("n1", topic_prefix, {"text": "Runs small \x00 really"}, customer="c-n1"),
        mutated("n2", topic_prefix, {"metadata.k\x00ey": "v"}, customer="c-n2"),
        # Each alone is a float; two summed overflow to inf, which PostgreSQL's json refuses.
        mutated("a1", topic_prefix, {"customer.value.arr": 1e308}, customer="c-a1"),
        mutated("a2", topic_prefix, {"customer.value.arr": 1e308}, customer="c-a2"),
    ]
    # One key: all on one partition, poison between good records.
    records = [record(good[0], prefix=topic_prefix, key="k"), *bad[:2]]
    records += [record(good[1], prefix=topic_prefix, key="k"), *bad[2:]]
    records += [record(g, prefix=topic_prefix, key="k") for g in good[2:]]
    records = [OutgoingRecord(r.topic, b"k", r.value, r.headers) for r in records]
    async with app_client(database_url) as client:
        await send_all(raw_producer, records)

        async def four_customers() -> Any:
            body = (await client.get("/v1/issues")).json()
            reach = sum(i["distinct_customers"] for i in body["items"])
            return body if reach == 4 else None

        issues = await eventually(four_customers)
        dead = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.dlq_topic(topics.ENRICHED),
            until=lambda rs: len(rs) >= 4,
        )
    assert issues, "the good records were not all stored"
    assert [header(d.headers, topics.HEADER_DLQ_REASON) for d in dead] == ["invalid_payload"] * 4
    errors = [header(d.headers, topics.HEADER_DLQ_ERROR) or "" for d in dead]
    # Refused by the item's contract or, past it, by what the databases store: named either way.
    assert "text" in errors[0] and "metadata" in errors[1], errors
    assert all("arr" in e for e in errors[2:]), errors


async def test_a_value_only_postgresql_refuses_is_isolated_by_halving_the_batch(
    app_client: AppClient,
    database_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    # A theme past VARCHAR(200): SQLite stores it, PostgreSQL refuses the whole transaction.
    long_theme = "t" * 300
    records = [
        record(enriched(f"g{i}", customer=f"c-{i}"), prefix=topic_prefix, key="k") for i in range(6)
    ]
    records.insert(
        3, record(enriched("long", customer="c-l", theme=long_theme), prefix=topic_prefix, key="k")
    )
    on_postgres = database_url.startswith("postgresql")
    async with app_client(database_url) as client:
        await send_all(raw_producer, records)

        async def stored() -> Any:
            body = (await client.get("/v1/issues")).json()
            reach = sum(i["distinct_customers"] for i in body["items"])
            return body if reach == (6 if on_postgres else 7) else None

        assert await eventually(stored)
        dead = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.dlq_topic(topics.ENRICHED),
            until=bool if on_postgres else None,
            idle_s=1.0,
        )
    if on_postgres:
        assert [header(d.headers, topics.HEADER_DLQ_REASON) for d in dead] == ["processing_error"]
        assert "character varying(200)" in (header(dead[0].headers, topics.HEADER_DLQ_ERROR) or "")
    else:
        assert dead == []
