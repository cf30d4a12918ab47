"""Prioritize's transactional outbox: the shared relay (feedloop.common.outbox) on its table."""

from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.common import outbox
from feedloop.common.events import Contract
from feedloop.common.settings import ServiceSettings
from feedloop.prioritize.models import OutboxEvent, table_of
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

outbox_t = table_of(OutboxEvent)
RELAY_LOCK = 0x5F0B0C5  # advisory lock id of the relay


def outbox_row(
    payload: Contract,
    *,
    event_id: str,
    key: str,
    correlation_id: str,
    prefix: str,
    now: datetime,
) -> dict[str, Any]:
    """Returns an outbox row holding the encoded event, produced by prioritize."""
    return outbox.outbox_row(
        payload,
        event_id=event_id,
        key=key,
        correlation_id=correlation_id,
        prefix=prefix,
        now=now,
        producer="prioritize",
    )


async def write(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Adds events to the outbox inside the caller's transaction."""
    await outbox.write(conn, outbox_t, rows)


class OutboxRelay(outbox.OutboxRelay):
    """The shared relay on prioritize's outbox table."""

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
            service="prioritize",
            lock_id=RELAY_LOCK,
            settings=settings,
            batch=batch,
            poll_s=poll_s,
        )


OUTBOX = outbox.Outbox(outbox_t, service="prioritize", lock_id=RELAY_LOCK)
"""Prioritize's outbox in the shared idiom (the relay step of the lifespan uses it)."""
