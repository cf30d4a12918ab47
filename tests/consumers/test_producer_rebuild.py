"""A fenced transactional producer is rebuilt by the batch loop: the stage goes on, no restart."""

import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord
from feedloop.common.consumer import BatchConsumer, producer_fenced
from feedloop.common.kafka import Emitter, Record, create_consumer, create_producer

from tests.consumers.test_batch_consumer import settings_for
from tests.support.kafka import read_topic
from tests.support.polling import eventually

pytestmark = pytest.mark.kafka


async def test_a_fenced_producer_is_rebuilt_and_every_record_still_arrives_once(
    kafka_bootstrap: str, topic_prefix: str, raw_producer: AIOKafkaProducer
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    topic_in = settings.topic(topics.RAW_FEEDBACK)
    topic_out = settings.topic(topics.ENRICHED)
    transactional_id = f"test-{uuid.uuid4().hex[:8]}"

    def new_producer() -> AIOKafkaProducer:
        return create_producer(settings, transactional_id=transactional_id)

    async def forward(records: Sequence[Record], emitter: Emitter) -> None:
        for record in records:
            await emitter.send(OutgoingRecord(topic_out, None, record.value or b"", []))

    first = new_producer()
    await first.start()
    consumer = BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[topic_in],
        handler=forward,
        service="test",
        group_id=settings.consumer_group,
        producer=first,
        transactional=True,
        producer_factory=new_producer,
    )
    await consumer.start()

    def values_out(records: list[Record]) -> list[bytes]:
        return sorted(r.value or b"" for r in records)

    try:
        await raw_producer.send_and_wait(topic_in, b"before", partition=0)
        await read_topic(kafka_bootstrap, topic_out, until=lambda rs: b"before" in values_out(rs))

        # A newer producer with the same transactional id (a restarted twin) fences ours.
        intruder = new_producer()
        await intruder.start()
        await intruder.stop()
        for i in range(5):
            await raw_producer.send_and_wait(topic_in, f"after-{i}".encode(), partition=i % 3)

        await eventually(lambda: consumer.producer_rebuilds >= 1, timeout_s=60)
        assert consumer.producer is not first
        assert producer_fenced(first)
        expected = sorted([b"before", *(f"after-{i}".encode() for i in range(5))])
        out = await read_topic(
            kafka_bootstrap, topic_out, until=lambda rs: values_out(rs) == expected, timeout_s=60
        )
        assert values_out(out) == expected, "each record once, through the fence"
        await eventually(lambda: consumer.healthy and consumer.running)
    finally:
        await consumer.stop()
        if consumer.producer is not None:
            await consumer.producer.stop()
        await first.stop()
