"""Data rights in ingest: forgetting a customer's idempotency entries when they are erased.

ingest keeps no database, only its in-memory idempotency store (accepted feedback ids, and
Idempotency-Keys with the body's fingerprint). `CustomerIndex` remembers which of those
entries came from which customer, bounded like the store; `IndexingIngestor` fills it as items
are prepared. Each replica holds its own store, so each reads every request: it reads
`customer-requests` without a consumer group, from the start at every boot (the topic is
compacted and small), forgets the customer's entries and confirms with `customer.erased`
(once per request: it skips requests it sees it confirmed already).
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer
from feedloop.common import topics
from feedloop.common.codec import PoisonRecord
from feedloop.common.events import CustomerErased, CustomerErasureRequested
from feedloop.common.kafka import client_options
from feedloop.common.rights import (
    decode_rights,
    erased_record,
)
from feedloop.ingest.claims import SharedClaims
from feedloop.ingest.idempotency import IdempotencyStore
from feedloop.ingest.producer import DurableProducer
from feedloop.ingest.service import Ingestor, Prepared
from feedloop.ingest.settings import IngestSettings
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
SERVICE = "ingest"


class Entry(NamedTuple):
    """One store entry made for a customer's item: its id, and its key when it had one."""

    feedback_id: str
    client_id: str
    idempotency_key: str | None


class CustomerIndex:
    """Which idempotency entries each customer's items made; the oldest customers evicted."""

    def __init__(self, *, max_customers: int) -> None:
        self.max_customers = max_customers
        self._entries: OrderedDict[str, set[Entry]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def note(self, customer_id: str, entry: Entry) -> None:
        """Records that an entry belongs to a customer."""
        self._entries.setdefault(customer_id, set()).add(entry)
        self._entries.move_to_end(customer_id)
        while len(self._entries) > self.max_customers:
            self._entries.popitem(last=False)

    def ids_of(self, customer_id: str) -> list[str]:
        """The feedback ids this process accepted for a customer (as far as it remembers)."""
        return sorted({e.feedback_id for e in self._entries.get(customer_id, set())})

    def forget(self, customer_id: str, store: IdempotencyStore) -> dict[str, int]:
        """Drops a customer's entries from the store and from the index; returns counts."""
        entries = self._entries.pop(customer_id, set())
        ids = sum(store.forget(e.feedback_id) for e in entries)
        keys = sum(
            store.forget_key(e.client_id, e.idempotency_key)
            for e in entries
            if e.idempotency_key is not None
        )
        return {"idempotency_ids": ids, "idempotency_keys": keys}


@dataclass
class IndexingIngestor(Ingestor):
    """The Ingestor, noting for each prepared item which customer its entries belong to."""

    index: CustomerIndex = field(default_factory=lambda: CustomerIndex(max_customers=100_000))

    def prepare(
        self, index: int, item: BaseModel, *, client_id: str, idempotency_key: str | None
    ) -> Prepared:
        """Builds the event of one validated item and indexes it by customer."""
        prepared = super().prepare(
            index, item, client_id=client_id, idempotency_key=idempotency_key
        )
        customer_id: str = item.customer.id  # type: ignore[attr-defined]
        self.index.note(customer_id, Entry(prepared.feedback_id, client_id, idempotency_key))
        return prepared


@dataclass
class Forgetter:
    """Applies erasure requests to one replica's store and confirms them."""

    settings: IngestSettings
    store: IdempotencyStore
    index: CustomerIndex
    producer: DurableProducer
    shared: SharedClaims | None = None
    confirmed: set[str] = field(default_factory=set)

    async def apply(self, value: bytes | None) -> bool:
        """Applies one `customer-requests` record; True when it confirmed an erasure."""
        try:
            payload = decode_rights(value).payload
        except PoisonRecord as exc:
            log.error("unreadable data-rights record skipped: %s", exc)
            return False
        if isinstance(payload, CustomerErased):
            if payload.service == SERVICE:
                self.confirmed.add(payload.request_id)
            return False
        if not isinstance(payload, CustomerErasureRequested):
            return False
        ids = self.index.ids_of(payload.customer_id)
        counts = self.index.forget(payload.customer_id, self.store)
        if self.shared is not None:
            counts["shared_claims"] = await self._forget_shared(ids)
        if payload.request_id in self.confirmed:
            return False
        record = erased_record(
            payload, service=SERVICE, counts=counts, prefix=self.settings.kafka_topic_prefix
        )
        while (error := (await self.producer.send_all([record]))[0]) is not None:
            log.warning("erasure confirmation not acknowledged (%s); retrying", error)
            await asyncio.sleep(self.settings.retry_after_s)
        self.confirmed.add(payload.request_id)
        log.info("customer erased", extra={"request_id": payload.request_id, "counts": counts})
        return True

    async def _forget_shared(self, ids: list[str]) -> int:
        assert self.shared is not None
        while True:
            try:
                return await self.shared.forget(ids)
            except (SQLAlchemyError, OSError) as error:
                log.warning("shared claims unreachable for an erasure (%s); retrying", error)
                await asyncio.sleep(self.settings.retry_after_s)


async def follow_requests(forgetter: Forgetter) -> None:
    """Reads `customer-requests` from the start, without a group, for the app's life."""
    settings = forgetter.settings
    while True:
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        try:
            await consumer.start()
            consumer.subscribe([settings.topic(topics.CUSTOMER_REQUESTS)])
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=200)
                for records in batches.values():
                    for record in records:
                        await forgetter.apply(record.value)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading customer-requests failed; starting over in 5 s")
            await asyncio.sleep(5)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
