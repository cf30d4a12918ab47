"""Notify's transactional outbox: `feedback.closed` events and dead letters, relayed to Kafka."""

from aiokafka import AIOKafkaProducer
from feedloop.common.outbox import Outbox, OutboxRelay
from feedloop.common.settings import ServiceSettings
from feedloop.notify.models import outbox_t
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE = "notify"
RELAY_LOCK = 0x5F0B0D5  # advisory lock id of notify's relay

OUTBOX = Outbox(outbox_t, service=SERVICE, lock_id=RELAY_LOCK)
"""Notify's outbox in the shared idiom (the relay step of the lifespan uses it)."""


def create_relay(
    *,
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    settings: ServiceSettings,
    batch: int,
    poll_s: float,
) -> OutboxRelay:
    """Returns the shared relay working on notify's outbox table."""
    return OUTBOX.relay(
        engine=engine, producer=producer, settings=settings, batch=batch, poll_s=poll_s
    )
