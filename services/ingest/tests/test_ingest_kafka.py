"""Ingest against the real broker: durability, envelopes, idempotency, batches."""

import asyncio

import orjson
from feedloop.common import topics
from feedloop.common.codec import decode, header
from feedloop.common.events import FeedbackReceived

from tests.support.kafka import read_topic

from .conftest import AppFactory, survey


async def test_posted_item_is_read_back_from_raw_feedback_with_envelope_and_headers(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with make_client() as client:
        response = await client.post(
            "/v1/feedback", json=survey("r-1"), headers={"X-Correlation-Id": "corr-42"}
        )
    assert response.status_code == 202, response.text
    feedback_id = response.json()["feedback_id"]
    records = await read_topic(
        kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 1
    )
    assert len(records) == 1
    record = records[0]
    assert record.key == b"cust-r-1"
    assert header(record.headers, topics.HEADER_ID) == feedback_id
    assert header(record.headers, topics.HEADER_TYPE) == "feedback.received"
    assert header(record.headers, topics.HEADER_CORRELATION_ID) == "corr-42"
    envelope = decode(record.value, accept=[FeedbackReceived])
    assert envelope.event_id == feedback_id
    assert envelope.correlation_id == "corr-42"
    assert envelope.payload.item.answers[0].score == 3
    assert envelope.payload.client_id == "shop"


async def test_same_source_and_external_id_yields_one_record_and_the_same_id(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with make_client() as client:
        first = await client.post("/v1/feedback", json=survey("dup-1"))
        second = await client.post("/v1/feedback", json=survey("dup-1"))
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["feedback_id"] == second.json()["feedback_id"]
    assert second.json()["status"] == "duplicate"
    records = await read_topic(kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK)
    assert len(records) == 1


async def test_concurrent_retries_with_one_idempotency_key_yield_one_record(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    body = survey("conc-1")
    async with make_client() as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/feedback", json=body, headers={"Idempotency-Key": "k-1"})
                for _ in range(20)
            )
        )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    assert len({r.json()["feedback_id"] for r in responses}) == 1
    records = await read_topic(kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK)
    assert len(records) == 1


async def test_reusing_an_idempotency_key_with_another_body_is_refused(
    make_client: AppFactory,
) -> None:
    async with make_client() as client:
        ok = await client.post("/v1/feedback", json=survey("k-a"), headers={"Idempotency-Key": "x"})
        reused = await client.post(
            "/v1/feedback", json=survey("k-b"), headers={"Idempotency-Key": "x"}
        )
    assert ok.status_code == 202
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["field"] == "Idempotency-Key"


async def test_batch_answers_per_item_and_one_bad_item_does_not_sink_the_others(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    items = [survey(f"b-{i}") for i in range(1000)]
    items[10]["answers"] = [{"metric": "nps", "score": 11}]
    items[20] = {"channel": "fax", "external_id": "b-20"}
    items[30] = survey("b-0")  # same source+external id as item 0: a duplicate within the batch
    async with make_client() as client:
        response = await client.post(
            "/v1/feedback/batch",
            content=orjson.dumps({"items": items}),
            headers={"content-type": "application/json"},
        )
        again = await client.post("/v1/feedback/batch", json={"items": items[:5]})
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (997, 2, 1)
    assert body["results"][10]["status"] == "rejected"
    assert body["results"][10]["errors"][0]["field"] == "answers.0.score"
    assert body["results"][20]["status"] == "rejected"
    assert body["results"][20]["external_id"] == "b-20"
    assert body["results"][30]["feedback_id"] == body["results"][0]["feedback_id"]
    assert again.status_code == 202
    assert again.json()["duplicate"] == 5
    records = await read_topic(
        kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 997
    )
    await asyncio.sleep(0.5)
    assert len(records) == 997
    assert len({header(r.headers, topics.HEADER_ID) for r in records}) == 997


async def test_restart_recognises_items_accepted_before_from_raw_feedback(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with make_client() as client:
        assert (await client.post("/v1/feedback", json=survey("w-1"))).status_code == 202
    async with make_client(idempotency_warmup_hours=1) as client:
        for _ in range(50):
            if len(client.app.state.ingestor.store):  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.1)
        retried = await client.post("/v1/feedback", json=survey("w-1"))
    assert retried.status_code == 200
    assert retried.json()["status"] == "duplicate"


async def test_a_valid_batch_puts_each_customer_on_the_partition_single_posts_use(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # A valid batch of this size is validated whole and queued in partition batches of its
    # own making: a customer's records must still share one partition with its single POSTs.
    def customer(n: int) -> dict[str, str]:
        return {"id": f"cust-{n}", "email": f"c{n}@example.com"}

    items = [survey(f"v-{i}", customer=customer(i % 7)) for i in range(200)]
    async with make_client() as client:
        response = await client.post("/v1/feedback/batch", json={"items": items})
        singles = [
            await client.post("/v1/feedback", json=survey(f"w-{n}", customer=customer(n)))
            for n in range(7)
        ]
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 200
    assert [r.status_code for r in singles] == [202] * 7
    records = await read_topic(
        kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 207
    )
    assert len(records) == 207
    partitions: dict[bytes | None, set[int]] = {}
    for record in records:
        partitions.setdefault(record.key, set()).add(record.partition)
        assert decode(record.value, accept=[FeedbackReceived]).payload.item.external_id
    assert len(partitions) == 7
    assert all(len(p) == 1 for p in partitions.values()), partitions
    assert len(set().union(*partitions.values())) > 1  # the keys do spread over partitions


async def test_compressed_batches_and_singles_read_back(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    items = [survey(f"z-{i}") for i in range(40)]
    async with make_client(compression="lz4") as client:
        batch = await client.post("/v1/feedback/batch", json={"items": items})
        single = await client.post("/v1/feedback", json=survey("z-single"))
    assert (batch.status_code, single.status_code) == (202, 202)
    records = await read_topic(
        kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 41
    )
    ids = {decode(r.value, accept=[FeedbackReceived]).payload.item.external_id for r in records}
    assert ids == {f"z-{i}" for i in range(40)} | {"z-single"}
