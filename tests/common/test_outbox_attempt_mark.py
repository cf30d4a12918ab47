"""A relay killed mid-send leaves its rows marked: the replica that relays next sends none twice."""

from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.db import create_engine
from feedloop.common.events import FeedbackClosed
from feedloop.common.outbox import Outbox, OutboxColumns, OutboxRelay
from feedloop.common.settings import ServiceSettings
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase

from tests.support.events import feedback_closed
from tests.support.kafka import read_topic

pytestmark = pytest.mark.kafka


class _Base(DeclarativeBase):
    pass


class _OutboxEvent(OutboxColumns, _Base):
    __tablename__ = "outbox"


TABLE: Table = _OutboxEvent.__table__  # type: ignore[assignment]
OUTBOX = Outbox(TABLE, service="shelltest", lock_id=0x5F0B0E1)


class _KilledAfterSending(OutboxRelay):
    """Sends and flushes its batch, then dies before its delete commits (as under kill -9:
    its transaction is rolled back and its connection, with the advisory lock, is gone)."""

    async def _delete_sent(self, conn: AsyncConnection, ids: list[int]) -> None:
        del conn, ids
        raise RuntimeError("killed mid-send")


def _closed(n: int) -> FeedbackClosed:
    return feedback_closed(f"f{n}", customer_id=f"c{n}")


async def test_rows_a_dead_relay_marked_are_reconciled_by_another_replica_not_resent(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix
    )
    engine = create_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        # Replica B's relay has been running: it found the outbox empty, so it trusts it.
        survivor = OUTBOX.relay(engine=engine, producer=producer, settings=settings)
        assert await survivor.relay_once() == 0
        now = datetime.now(UTC)
        rows = [
            OUTBOX.row(
                _closed(n),
                event_id=f"e{n}",
                key=f"c{n}",
                correlation_id="x",
                prefix=topic_prefix,
                now=now,
            )
            for n in range(5)
        ]
        async with engine.begin() as conn:
            await conn.execute(insert(TABLE), rows)

        # Replica A's relay sends all five, then dies before deleting them.
        killed = _KilledAfterSending(
            engine=engine,
            producer=producer,
            table=TABLE,
            service="shelltest",
            lock_id=OUTBOX.lock_id,
            settings=settings,
        )
        with pytest.raises(RuntimeError, match="killed mid-send"):
            await killed.relay_once()
        async with engine.connect() as conn:
            marked = (await conn.execute(select(TABLE.c.attempt_owner))).scalars().all()
        assert marked == [killed.owner] * 5, "the mark outlived the dead relay's transaction"

        # B takes the lock next: it finds the five on Kafka and drops them instead of resending.
        assert await survivor.relay_once() == 0
        assert survivor.reconciled == 5
        assert survivor.sent == 0
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(TABLE)) == 0
    finally:
        await producer.stop()
        await engine.dispose()
    on_wire: list[ConsumerRecord[bytes, bytes]] = await read_topic(
        kafka_bootstrap, topic_prefix + topics.CLOSED
    )
    ids = [decode(r.value, accept=[FeedbackClosed]).event_id for r in on_wire]
    assert sorted(ids) == [f"e{n}" for n in range(5)], "each event once on the wire"
