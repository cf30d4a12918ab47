"""A producer that answers within a bounded time and rebuilds itself after broker trouble."""

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2
from feedloop.common.codec import OutgoingRecord
from feedloop.common.kafka import create_producer
from feedloop.common.metrics import PRODUCE_LATENCY
from feedloop.ingest.settings import IngestSettings
from prometheus_client import Histogram

log = logging.getLogger(__name__)

# Errors after which an idempotent producer's sequence state is wrong (aiokafka issue #1017).
_POISONED = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


# From this many records on, send_all builds the partitions' batches itself (send_batch): one
# future per batch instead of a send() and a future per record. Fewer records go through
# send(), which lets concurrent single POSTs share the producer's lingering batches.
BATCH_FROM = 32


@functools.lru_cache(maxsize=65_536)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a key (murmur2, as Java's)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; nothing may be reported as accepted."""


class DurableProducer:
    """Sends records and waits for acks=all within `produce_timeout_s`, or reports the error."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._rebuilt_at = 0.0
        self.rebuilds = 0
        self._latency: dict[str, Histogram] = {}

    async def start(self) -> None:
        """Connects now if the broker answers; otherwise the first send retries."""
        with contextlib.suppress(BrokerUnavailable):
            await self._ensure()

    async def stop(self) -> None:
        """Flushes what is buffered and disconnects."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self.settings.produce_timeout_s * 2)
            self._producer = None

    @property
    def connected(self) -> bool:
        """True while a started producer exists."""
        return self._producer is not None

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = create_producer(
                    self.settings,
                    linger_ms=self.settings.linger_ms,
                    compression_type=None
                    if self.settings.compression == "none"
                    else self.settings.compression,
                    request_timeout_ms=max(1000, int(self.settings.produce_timeout_s * 1000)),
                    retry_backoff_ms=100,
                )
                try:
                    await asyncio.wait_for(producer.start(), self.settings.produce_timeout_s)
                except (KafkaError, TimeoutError, OSError) as exc:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 1)
                    raise BrokerUnavailable(f"cannot connect to Kafka: {exc!r}") from exc
                self._producer = producer
                self._rebuilt_at = time.monotonic()
        assert self._producer is not None
        return self._producer

    async def _rebuild(self, reason: str) -> None:
        old, self._producer = self._producer, None
        self.rebuilds += 1
        self._failures = 0
        # From now: the old producer's in-flight sends still fail after this, and must not
        # rebuild its successor again at once (seen on a 3-broker cluster: 3 rebuilds in 0.6 s).
        self._rebuilt_at = time.monotonic()
        log.warning("rebuilding the Kafka producer: %s", reason)
        if old is not None:
            # Stopping waits for buffered records; do not make the caller wait for a dead broker.
            asyncio.get_running_loop().create_task(_stop_quietly(old))

    async def send_all(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        """Sends records; returns per record None (acknowledged) or the error. Bounded in time."""
        started = time.perf_counter()
        try:
            producer = await self._ensure()
        except BrokerUnavailable as exc:
            return [exc] * len(records)
        deadline = asyncio.get_running_loop().time() + self.settings.produce_timeout_s
        if len(records) == 1:
            results = [await self._send_one(producer, records[0], deadline)]
        else:
            results = await self._send_many(producer, records, deadline)
        if records:
            topic = records[0].topic
            latency = self._latency.get(topic)
            if latency is None:
                latency = self._latency[topic] = PRODUCE_LATENCY.labels("ingest", topic)
            latency.observe(time.perf_counter() - started)
        await self._after(results)
        return results

    async def _send_one(
        self, producer: AIOKafkaProducer, record: OutgoingRecord, deadline: float
    ) -> BaseException | None:
        # A single POST's record: one deadline over the send and its acknowledgement.
        future: asyncio.Future[object] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                future = await producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
                await asyncio.shield(future)  # a timeout must not cancel the record's future
        except TimeoutError as exc:
            return TimeoutError("no acknowledgement in time") if future is not None else exc
        except Exception as exc:
            if future is None and not isinstance(exc, KafkaError):
                raise  # send() itself failed for another reason than the broker: a bug
            return exc  # what the broker answered (or send() refused) for this record
        return None

    async def _send_many(
        self, producer: AIOKafkaProducer, records: Sequence[OutgoingRecord], deadline: float
    ) -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        results: list[BaseException | None] = [None] * len(records)
        futures: list[asyncio.Future[object] | None] = [None] * len(records)
        try:
            # send() only waits when metadata is missing or the buffer is full: bound it too.
            async with asyncio.timeout_at(deadline):
                if len(records) >= BATCH_FROM:
                    await _enqueue_batches(producer, records, futures)
                else:
                    for index, record in enumerate(records):
                        futures[index] = await producer.send(
                            record.topic, record.value, key=record.key, headers=record.headers
                        )
        except (KafkaError, TimeoutError) as exc:
            for index, future in enumerate(futures):
                if future is None:
                    results[index] = exc
        waiting = {f for f in futures if f is not None}
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=max(0.0, deadline - loop.time()))
            for index, future in enumerate(futures):
                if future is None:
                    continue
                if future in pending:
                    results[index] = TimeoutError("no acknowledgement in time")
                elif future.exception() is not None:
                    results[index] = future.exception()
        return results

    async def _after(self, results: list[BaseException | None]) -> None:
        errors = [r for r in results if r is not None]
        if not errors:
            self._failures = 0
            return
        self._failures += 1
        if any(isinstance(e, _POISONED) for e in errors):
            await self._rebuild(f"idempotent producer state lost: {errors[0]!r}")
        elif self._failures >= 3 and time.monotonic() - self._rebuilt_at > 10:
            # Timeouts after an outage can mean a wedged producer; a fresh one costs little.
            await self._rebuild(f"{self._failures} failed sends in a row: {errors[0]!r}")


async def _enqueue_batches(
    producer: AIOKafkaProducer,
    records: Sequence[OutgoingRecord],
    futures: list[asyncio.Future[object] | None],
) -> None:
    """Queues records in batches of their partitions; sets each record's batch future.

    Partitions are the default partitioner's (murmur2 of the key), so a customer's records
    land where single sends put them. A record whose batch was not queued keeps None.
    """
    by_partition: dict[tuple[str, int], list[int]] = {}
    counts: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        ids = counts.get(record.topic)
        if ids is None:
            ids = counts[record.topic] = sorted(await producer.partitions_for(record.topic))
        n = len(ids)
        partition = ids[partition_of(record.key, n)] if record.key else random.choice(ids)
        by_partition.setdefault((record.topic, partition), []).append(index)
    for (topic, partition), indexes in by_partition.items():
        batch = producer.create_batch()
        members: list[int] = []
        for index in indexes:
            record = records[index]
            appended = batch.append(
                key=record.key, value=record.value, timestamp=None, headers=record.headers
            )
            if appended is None:  # full: queue it, start the next
                future = await producer.send_batch(batch, topic, partition=partition)
                for member in members:
                    futures[member] = future
                batch, members = producer.create_batch(), []
                batch.append(
                    key=record.key, value=record.value, timestamp=None, headers=record.headers
                )
            members.append(index)
        future = await producer.send_batch(batch, topic, partition=partition)
        for member in members:
            futures[member] = future


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 30)
