"""A crash between the DB commit and the produce neither loses nor doubles an event."""

import asyncio
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.db import create_engine, table_of
from feedloop.common.events import FeedbackPrioritized, IssueUpdated
from feedloop.prioritize.issues.assign import Incoming, store_batch
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import OutboxEvent
from feedloop.prioritize.outbox import OutboxRelay, create_relay
from sqlalchemy import insert, select, text

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic

from .conftest import make_settings
from .factory import enriched, record


async def test_events_committed_before_a_crash_are_sent_once_after_restart(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    items = [enriched(f"o{i}", customer=f"c-{i}") for i in range(3)]
    settings = make_settings(kafka_topic_prefix=topic_prefix, database_url=sqlite_url)
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    # The consumer committed its batch, then died before the relay produced anything.
    async with engine.begin() as conn:
        batch = [Incoming(event=i, correlation_id="c", event_id=i.feedback_id) for i in items]
        await store_batch(conn=conn, batch=batch, settings=settings, now=datetime.now(UTC))
    outbox = table_of(OutboxEvent)
    async with engine.connect() as conn:
        saved = [dict(r._mapping) for r in await conn.execute(select(outbox))]
    assert len(saved) == 4  # three feedback.prioritized + one issue.updated

    # A relay that produced and died before deleting: the same events go out again.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    assert await create_relay(engine=engine, producer=producer).relay_once() == 4
    await producer.stop()
    async with engine.begin() as conn:
        await conn.execute(insert(outbox), saved)
    await engine.dispose()

    async with app_client(sqlite_url) as client:
        # Kafka redelivers the enriched records too (their offsets were never committed).
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])
        relay: OutboxRelay = client.app.state.relay  # type: ignore[attr-defined]
        engine = client.app.state.engine  # type: ignore[attr-defined]
        for _ in range(200):
            async with engine.connect() as conn:
                stored = await conn.scalar(text("SELECT count(*) FROM feedback"))
            if stored == 3 and relay.reconciled >= 4 and await relay.pending() == 0:
                break
            await asyncio.sleep(0.1)
        # Everything is relayed or reconciled; read what reached the wire (until it goes idle).
        out = await read_topic(kafka_bootstrap, topic_prefix + topics.PRIORITIZED)
    ids = [decode(r.value, accept=[FeedbackPrioritized, IssueUpdated]).event_id for r in out]
    assert stored == 3
    assert relay.reconciled == 4, "the leftover rows were found on Kafka and dropped"
    assert sorted(ids) == sorted(row["event_id"] for row in saved), "each event once on the wire"
