"""Prioritize's transactional outbox: the shared idiom (feedloop.common.outbox) on its table."""

from aiokafka import AIOKafkaProducer
from feedloop.common import outbox
from feedloop.common.settings import ServiceSettings
from feedloop.prioritize.models import OutboxEvent, table_of
from sqlalchemy.ext.asyncio import AsyncEngine

outbox_t = table_of(OutboxEvent)
RELAY_LOCK = 0x5F0B0C5  # advisory lock id of the relay

OUTBOX = outbox.Outbox(outbox_t, service="prioritize", lock_id=RELAY_LOCK)
"""Prioritize's outbox: rows, writes and the relay the lifespan's relay_step runs."""

outbox_row = OUTBOX.row
"""Returns an outbox row holding the encoded event, produced by prioritize."""
write = OUTBOX.write
"""Adds events to the outbox inside the caller's transaction."""


class OutboxRelay(outbox.OutboxRelay):
    """The shared relay on prioritize's outbox table (tests build one without the app)."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        settings: ServiceSettings | None = None,
        batch: int = 1000,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(
            engine=engine,
            producer=producer,
            table=outbox_t,
            service=OUTBOX.service,
            lock_id=RELAY_LOCK,
            settings=settings,
            batch=batch,
            poll_s=poll_s,
        )
