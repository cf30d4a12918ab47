"""Transactional outbox: events are written with the change they report, then relayed to Kafka.

A crash after the DB commit leaves the events in the outbox, so they are sent on restart. A crash
after the produce and before the delete would send them twice: so before relaying rows an earlier
run (or a failed attempt) may already have sent, the relay looks them up in the topic's recent
tail by event id (feedloop.common.reconcile) and deletes those instead of sending them again.
Event ids are deterministic besides, and consumers drop repeats. Only one relay sends at a time
(an advisory lock on PostgreSQL), so the events of one key keep their order.

The rows a relay may have sent: all of them when it starts or after its own attempt failed, and
on PostgreSQL the rows another replica's relay marked as attempted (`attempted_at`,
`attempt_owner`, committed before it sends) and never deleted because it died mid-send.

Needs the `db` extra. A service maps the table with `OutboxColumns` on its own declarative base
and declares one `Outbox` (table, producer name, relay lock); its lifespan adds `relay_step`.
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.db import UtcDateTime, is_postgres, store_step
from feedloop.common.events import Contract, Envelope
from feedloop.common.kafka import Emitter, create_producer
from feedloop.common.loops import WakeableLoop
from feedloop.common.reconcile import events_on_topics
from feedloop.common.settings import OutboxSettings, ServiceSettings
from feedloop.common.shell import Step, producer_step
from sqlalchemy import (
    JSON,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

log = logging.getLogger(__name__)


class OutboxColumns:
    """Declarative mixin: the columns of a service's `outbox` table."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(300))
    key: Mapped[str | None] = mapped_column(String(300))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set (and committed) before a relay sends the row: a row found with a mark was attempted
    # by a relay that did not finish, so it may be on Kafka already (PostgreSQL; see relay_once).
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempt_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the outbox stores UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_row(record: OutgoingRecord, *, event_id: str, now: datetime) -> dict[str, Any]:
    """Returns an outbox row holding an already encoded record (e.g. a dead letter)."""
    return {
        "event_id": event_id,
        "topic": record.topic,
        "key": record.key.decode() if record.key is not None else None,
        "value": record.value,
        "headers": [[name, value.decode()] for name, value in record.headers],
        "created_at": now,
    }


def outbox_row(
    payload: Contract,
    *,
    event_id: str,
    key: str,
    correlation_id: str,
    prefix: str,
    now: datetime,
    producer: str,
) -> dict[str, Any]:
    """Returns an outbox row holding the encoded event."""
    envelope = Envelope.wrap(
        payload,
        event_id=event_id,
        producer=producer,
        correlation_id=correlation_id,
        occurred_at=now,
    )
    return record_row(encode(envelope, key=key, prefix=prefix), event_id=event_id, now=now)


async def write(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Adds events to the outbox inside the caller's transaction."""
    if rows:
        await conn.execute(insert(table), rows)


class OutboxRelay(WakeableLoop):
    """Sends outbox events with the idempotent producer and deletes them once acknowledged.

    `stop()` leaves what is not sent in the outbox for the next start.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        table: Table,
        service: str,
        lock_id: int,
        settings: ServiceSettings | None = None,
        batch: int = 1000,
        poll_s: float = 0.5,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.table = table
        self.service = service
        self.lock_id = lock_id
        self.settings = settings
        # Rows present when the relay starts, or left by an attempt that did not end with their
        # delete committed (failed or cancelled), may be on Kafka already.
        self._suspect = True
        self.reconciled = 0
        self.batch = batch
        self.poll_s = poll_s
        self.sent = 0
        super().__init__(task_name=f"{service}-outbox")
        self.owner = f"{service}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Names this relay in the rows it attempts (attempt_owner)."""

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wait_for_wake(self.poll_s)
            try:
                while await self.relay_once() == self.batch:
                    pass
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))

    async def relay_once(self) -> int:
        """Sends one batch of the oldest events; returns how many were sent."""
        outbox = self.table
        async with self.engine.begin() as conn:
            if is_postgres(conn):
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self.lock_id}
                )
                if not got:
                    return 0
            rows = list(
                (await conn.execute(select(outbox).order_by(outbox.c.id).limit(self.batch))).all()
            )
            if not rows:
                self._suspect = False
                return 0
            # Suspect: every row after a start or a failed attempt of ours; otherwise the rows
            # another relay marked and never deleted (it died mid-send, on another replica).
            suspects = rows if self._suspect else [r for r in rows if r.attempted_at is not None]
            if suspects and self.settings is not None:
                rows = await self._drop_already_sent(conn, rows, suspects)
                if not rows:
                    return 0  # the next look finds the outbox empty and clears the suspicion
            # Until the delete commits, these rows may be on Kafka without having left the
            # outbox: whatever ends this attempt early (an error, a cancellation on shutdown)
            # leaves the relay suspicious of them, and the mark tells the other replicas.
            self._suspect = True
            await self._mark_attempted(conn, rows)
            emitter = Emitter(self.producer, service=self.service)
            for row in rows:
                await emitter.send(
                    OutgoingRecord(
                        topic=row.topic,
                        key=row.key.encode() if row.key is not None else None,
                        value=row.value,
                        headers=[(name, value.encode()) for name, value in row.headers],
                    )
                )
            await emitter.flush()
            await self._delete_sent(conn, [r.id for r in rows])
        self._suspect = False
        self.sent += len(rows)
        return len(rows)

    async def _delete_sent(self, conn: AsyncConnection, ids: list[int]) -> None:
        # Committed with the relay's transaction: until then the rows stay marked as attempted.
        await conn.execute(delete(self.table).where(self.table.c.id.in_(ids)))

    async def _mark_attempted(self, conn: AsyncConnection, rows: list[Row[Any]]) -> None:
        # Committed apart from the relay's transaction, so that it survives this relay's death:
        # the replica that takes the lock next reconciles these rows instead of resending them.
        # SQLite has one writer (the relay's transaction holds it) and serves one replica,
        # whose own suspicion after a restart covers the same case.
        if not is_postgres(conn):
            return
        ids = [row.id for row in rows]
        async with self.engine.begin() as mark:
            await mark.execute(
                update(self.table)
                .where(self.table.c.id.in_(ids))
                .values(attempted_at=datetime.now(UTC), attempt_owner=self.owner)
            )

    async def _drop_already_sent(
        self, conn: AsyncConnection, rows: list[Row[Any]], suspects: list[Row[Any]]
    ) -> list[Row[Any]]:
        assert self.settings is not None
        # An abandoned attempt's records may still be on their way: let them land (or fail)
        # first, or the tail read before they arrive would miss them and they would go twice.
        await self.producer.flush()
        sent = await events_on_topics(
            self.settings,
            {row.topic for row in suspects},
            since=min(_aware(row.created_at) for row in suspects),
            candidates=[row.event_id for row in suspects],
        )
        if sent:
            await conn.execute(delete(self.table).where(self.table.c.event_id.in_(sent)))
            self.reconciled += len(sent)
            log.warning("outbox rows already on Kafka dropped", extra={"count": len(sent)})
        return [row for row in rows if row.event_id not in sent]

    async def pending(self) -> int:
        """Returns how many events wait in the outbox."""
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(self.table)) or 0)


@dataclass(frozen=True)
class Outbox:
    """One service's outbox: its table, the producer name on its events, its relay's lock.

    The one idiom: `row(...)` builds rows, `write(conn, rows)` adds them inside the caller's
    transaction, `relay(...)` relays them, and `relay_step` runs that relay in the lifespan.
    """

    table: Table
    service: str
    lock_id: int

    def row(
        self,
        payload: Contract,
        *,
        event_id: str,
        key: str,
        correlation_id: str,
        prefix: str,
        now: datetime,
    ) -> dict[str, Any]:
        """Returns an outbox row holding the encoded event, produced by this service."""
        return outbox_row(
            payload,
            event_id=event_id,
            key=key,
            correlation_id=correlation_id,
            prefix=prefix,
            now=now,
            producer=self.service,
        )

    async def write(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Adds events to the outbox inside the caller's transaction."""
        await write(conn, self.table, rows)

    def relay(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        settings: ServiceSettings | None = None,
        batch: int = 1000,
        poll_s: float = 0.5,
    ) -> OutboxRelay:
        """Returns a relay working on this outbox."""
        return OutboxRelay(
            engine=engine,
            producer=producer,
            table=self.table,
            service=self.service,
            lock_id=self.lock_id,
            settings=settings,
            batch=batch,
            poll_s=poll_s,
        )


def relay_step(outbox: Outbox, *, engine: AsyncEngine, settings: OutboxSettings) -> Step:
    """Lifespan step (feedloop.common.shell): runs the relay as `app.state.relay` on the
    producer a producer_step started; on shutdown stops it and flushes what is left once."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        relay = outbox.relay(
            engine=engine,
            producer=app.state.producer,
            settings=settings,
            batch=settings.outbox_batch,
            poll_s=settings.outbox_poll_s,
        )
        app.state.relay = relay
        relay.start()

        async def stop() -> None:
            await relay.stop()
            with contextlib.suppress(Exception):
                await relay.relay_once()

        stack.push_async_callback(stop)

    return step


def stateful_steps(
    *,
    engine: AsyncEngine,
    settings: OutboxSettings,
    outbox: Outbox,
    upgrade: Callable[[AsyncEngine], Awaitable[None]],
    migrate: bool,
) -> list[Step]:
    """The first lifespan steps of a service with a store and an outbox: the store (upgraded
    when `migrate`), a Kafka producer (`app.state.producer`) and the relay on it."""
    return [
        store_step(engine, upgrade=upgrade, migrate=migrate),
        producer_step(lambda: create_producer(settings)),
        relay_step(outbox, engine=engine, settings=settings),
    ]
