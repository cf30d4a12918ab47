"""A relay stopped mid-send leaves no event to be sent a second time by the next relay pass."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.db import create_engine
from feedloop.common.events import FeedbackClosed
from feedloop.common.outbox import outbox_row, write
from feedloop.notify.migrate import upgrade
from feedloop.notify.models import outbox_t
from feedloop.notify.outbox import create_relay

from tests.support.events import feedback_closed
from tests.support.kafka import read_topic

from .conftest import make_settings


class StallingProducer:
    """Hands records to the real producer, then stalls the caller while `stall` is set."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.stall = True
        self.handed_over = asyncio.Event()

    async def send(self, topic: str, **kwargs: Any) -> "asyncio.Future[Any]":
        future = await self.producer.send(topic, **kwargs)
        self.handed_over.set()
        if self.stall:
            await asyncio.Event().wait()  # cancelled here, with the record on its way
        return future

    async def flush(self) -> None:
        await self.producer.flush()


def closed_row(n: int, prefix: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    event = feedback_closed(f"f{n}", customer_id=f"c{n}", channel="webhook", at=now)
    return outbox_row(
        event,
        event_id=f"closed-{n}",
        key="i1",
        correlation_id="c",
        prefix=prefix,
        now=now,
        producer="notify",
    )


async def test_a_relay_cancelled_after_producing_does_not_send_the_batch_again(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = make_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        database_url=database_url,
    )
    engine = create_engine(database_url)
    await upgrade(engine)
    async with engine.begin() as conn:
        await write(conn, outbox_t, [closed_row(n, topic_prefix) for n in range(3)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    stalling = StallingProducer(producer)
    relay = create_relay(
        engine=engine,
        producer=stalling,  # type: ignore[arg-type]
        settings=settings,
        batch=100,
        poll_s=0.1,
    )
    try:
        # The app's shutdown: the relay task is cancelled mid-send, then one last pass runs.
        attempt = asyncio.create_task(relay.relay_once())
        await asyncio.wait_for(stalling.handed_over.wait(), 30)
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        stalling.stall = False
        assert await relay.relay_once() == 2, "only the two never handed over are sent"
        assert relay.reconciled == 1, "the one on its way was found on Kafka and dropped"
        assert await relay.pending() == 0
    finally:
        await producer.stop()
        await engine.dispose()
    out = await read_topic(kafka_bootstrap, topic_prefix + topics.CLOSED)
    ids = [decode(r.value, accept=[FeedbackClosed]).event_id for r in out]
    assert sorted(ids) == ["closed-0", "closed-1", "closed-2"], "each event once on the wire"
