"""Cutting erased customers out of the topics, once every service has confirmed their erasure.

A loop of notify (which owns the requests): for each request that ingest, prioritize and notify
confirmed but the topics did not, it takes the topics' cut (kept with the request), deletes
what every consumer group has read before it (feedloop.common.topic_erasure), and when every
partition starts at its cut it removes the customer's dead letters and confirms as `topics`.
"""

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from feedloop.common import topics
from feedloop.common.contracts import CONSUMERS
from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.events import CustomerErasureRequested, deterministic_id, utcnow
from feedloop.common.kafka import client_options
from feedloop.common.outbox import record_row
from feedloop.common.rights import (
    ERASURE_SERVICES,
    TOPICS,
    erased_record,
)
from feedloop.common.topic_erasure import (
    TopicCut,
    cut_consumed,
    scrub_dead_letters,
    take_cut,
)
from feedloop.notify.models import erasure_confirmation_t, erasure_request_t
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.settings import NotifySettings
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


def groups_by_topic(settings: NotifySettings) -> dict[str, list[str]]:
    """The consumer groups that must have read each pipeline topic, by physical topic name."""
    configured = settings.erasure_topic_groups
    if configured is None:
        configured = {}
        for _, topic, group in CONSUMERS:
            configured.setdefault(topic, []).append(group)
    return {settings.topic(topic): groups for topic, groups in configured.items()}


@dataclass
class Pending:
    """An erasure every service confirmed and the topics not yet."""

    request: CustomerErasureRequested
    cut: TopicCut | None


async def pending(engine: AsyncEngine) -> list[Pending]:
    """Returns the erasures waiting for their topics to be cut."""
    async with engine.connect() as conn:
        requests = (await conn.execute(select(erasure_request_t))).all()
        confirmed: dict[str, set[str]] = {}
        for row in await conn.execute(
            select(erasure_confirmation_t.c.request_id, erasure_confirmation_t.c.service)
        ):
            confirmed.setdefault(row.request_id, set()).add(row.service)
    found = []
    for r in requests:
        done = confirmed.get(r.id, set())
        if TOPICS in r.services and TOPICS not in done and set(ERASURE_SERVICES) <= done:
            request = CustomerErasureRequested(
                request_id=r.id,
                customer_id=r.customer_id,
                requested_at=r.requested_at,
                requested_by=r.requested_by,
                services=r.services,
            )
            found.append(Pending(request, TopicCut.from_json(r.topic_cut) if r.topic_cut else None))
    return found


@dataclass
class TopicScrubber:
    """One pass over the pending erasures, with the Kafka clients it needs."""

    engine: AsyncEngine
    settings: NotifySettings

    async def run(self) -> None:
        """Scrubs every `erasure_scrub_s` for the app's life."""
        while True:
            await asyncio.sleep(self.settings.erasure_scrub_s)
            try:
                await self.scrub_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cutting erased customers from the topics failed; retrying")

    async def scrub_once(self) -> int:
        """Advances every pending erasure; returns how many it finished."""
        waiting = await pending(self.engine)
        if not waiting:
            return 0
        options = client_options(self.settings)
        admin = AIOKafkaAdminClient(**options)
        consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
        producer = AIOKafkaProducer(**options, enable_idempotence=True, acks="all")
        await admin.start()
        await consumer.start()
        await producer.start()
        try:
            finished = 0
            for item in waiting:
                finished += await self._advance(item, admin, consumer, producer)
            return finished
        finally:
            await producer.stop()
            await consumer.stop()
            await admin.close()

    async def _advance(
        self,
        item: Pending,
        admin: AIOKafkaAdminClient,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
    ) -> int:
        groups = groups_by_topic(self.settings)
        if item.cut is None:
            item.cut = await take_cut(consumer, groups)
            if not item.cut.cut:
                log.error("no partitions found to cut (topics missing?); erasure waits")
                item.cut = None
                return 0
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(erasure_request_t)
                    .where(erasure_request_t.c.id == item.request.request_id)
                    .values(topic_cut=item.cut.as_json())
                )
        deleted, done = await cut_consumed(admin, consumer, item.cut, groups)
        if not done:
            log.info("erasure waits for consumers to pass its cut", extra={"deleted": deleted})
            return 0
        dlqs = [self.settings.topic(t) for t in topics.DLQ_TOPICS]
        letters = await scrub_dead_letters(
            admin, consumer, producer, dlqs, item.request.customer_id
        )
        await self._confirm(item.request, {"records_cut": deleted, "dead_letters": letters})
        return 1

    async def _confirm(self, request: CustomerErasureRequested, counts: dict[str, int]) -> None:
        record = erased_record(
            request, service=TOPICS, counts=counts, prefix=self.settings.kafka_topic_prefix
        )
        now = utcnow()
        async with self.engine.begin() as conn:
            # Another notify replica may have finished it too: the first confirmation stays.
            await insert_ignoring_conflicts(
                conn,
                erasure_confirmation_t,
                [
                    {
                        "request_id": request.request_id,
                        "service": TOPICS,
                        "counts": counts,
                        "erased_at": now,
                    }
                ],
            )
            event_id = deterministic_id("customer.erased", request.request_id, TOPICS)
            await OUTBOX.write(conn, [record_row(record, event_id=event_id, now=now)])
