"""The batch consumer loop: every record ends processed or dead-lettered; the partition moves on.

A batch is handed to the stage's handler whole. When the handler raises something that is not
a transient fault (broker or database unreachable), the batch is split in halves and each half
is retried on its own, down to the single record, which then goes to its dead-letter topic
with the error: one bad record costs a few retries, never the partition. Offsets are committed
as the consumer's position, past transaction markers, so a drained partition shows lag 0.

Every consumed record has a correlation id (its `ce_correlationid` header, else its event id):
while its batch is handled, `correlation_id_var` holds it (the batch's one id, or each record's
own once a failed batch is halved down to it), so logs show it and the records the batch
produces carry it in their headers when they do not name one themselves.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, OutgoingRecord
from feedloop.common.health import unwatch, watch
from feedloop.common.kafka import BatchHandler, Emitter, Record, count, send_dead_letter
from feedloop.common.logs import correlation_id_var, correlation_scope
from feedloop.common.metrics import CONSUMER_BATCH_SECONDS, CONSUMER_LAG

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]
TransientCheck = Callable[[BaseException], bool]
ProducerFactory = Callable[[], AIOKafkaProducer]
UNHEALTHY_AFTER_FAILURES = 5


def kafka_transient(exc: BaseException) -> bool:
    """True for faults that retrying the same batch can cure: the broker or network, timeouts."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KafkaError | OSError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def correlation_of(record: Record) -> str:
    """A consumed record's correlation id: its header, else its event id, else its position."""
    found: dict[str, bytes] = {
        k: v for k, v in record.headers or () if k in _CORRELATION_HEADERS and v
    }
    for name in _CORRELATION_HEADERS:
        if name in found:
            return found[name].decode(errors="replace")[:200]
    return f"{record.topic}/{record.partition}/{record.offset}"


_CORRELATION_HEADERS = (topics.HEADER_CORRELATION_ID, topics.HEADER_ID)


def batch_correlation(records: Sequence[Record]) -> tuple[str | None, list[str]]:
    """The correlation id a batch's work runs under (the one its records share, if they do)
    and its distinct ids in order (at most 20, for the logs)."""
    ids = list(dict.fromkeys(correlation_of(r) for r in records))
    return (ids[0] if len(ids) == 1 else None), ids[:20]


def with_correlation(record: OutgoingRecord) -> OutgoingRecord:
    """The record with the current correlation id in its headers, unless it names one."""
    current = correlation_id_var.get()
    headers = list(record.headers or [])
    if current is None or any(k == topics.HEADER_CORRELATION_ID for k, _ in headers):
        return record
    headers.append((topics.HEADER_CORRELATION_ID, current.encode()))
    return OutgoingRecord(topic=record.topic, value=record.value, key=record.key, headers=headers)


def producer_fenced(producer: AIOKafkaProducer | None) -> bool:
    """True once a transactional producer is in its fatal state (fenced, or its transaction timed
    out on the broker): every later transaction fails, only a new producer can go on. aiokafka
    has no public accessor for that state."""
    txn = getattr(producer, "_txn_manager", None)
    return txn is not None and bool(txn.is_fatal_error())


class _DeferredEmitter(Emitter):
    """Holds records until flush(): a failed attempt sends nothing, so a retried half does not
    dead-letter the same record twice (outside a transaction, a send cannot be taken back)."""

    def __init__(self, producer: AIOKafkaProducer, *, service: str) -> None:
        super().__init__(producer, service=service)
        self._held: list[OutgoingRecord] = []

    async def send(self, record: OutgoingRecord) -> None:
        """Keeps a record for flush(), with the batch's correlation id."""
        self._held.append(with_correlation(record))

    async def flush(self) -> None:
        """Sends every held record and waits for the acknowledgements."""
        held, self._held = self._held, []
        for record in held:
            await super().send(record)
        await super().flush()


class _CorrelatingEmitter(Emitter):
    """Sends each record with the batch's correlation id (when it names none itself)."""

    async def send(self, record: OutgoingRecord) -> None:
        """Queues a record; its delivery is confirmed by flush()."""
        await super().send(with_correlation(record))


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: "BatchConsumer") -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in flight, so its offsets are committed before others take over.
        async with self.owner.batch_lock:
            for tp in revoked:
                self.owner.forget(tp)
        log.info("partitions revoked", extra={"partitions": [str(tp) for tp in revoked]})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [str(tp) for tp in assigned]})


class BatchConsumer:
    """Consumes batches, hands them to a handler, and commits only after the work is durable.

    Two modes: with `transactional`, each batch's output and its input offsets are committed in
    one Kafka transaction (Kafka in, Kafka out); without it, the handler makes its work durable
    (a database commit) and the offsets are committed afterwards. A batch that failed on a
    transient fault is re-read from where its commits stopped, so handlers must ignore repeats
    by event id. `dead_letters=False` (a topic without a DLQ) logs and skips a bad record.
    """

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        topics_in: Sequence[str],
        handler: BatchHandler,
        service: str,
        group_id: str,
        producer: AIOKafkaProducer | None = None,
        transactional: bool = False,
        dead_letters: bool = True,
        transient: TransientCheck = kafka_transient,
        max_records: int = 500,
        timeout_ms: int = 200,
        max_backoff_s: float = 30.0,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        if (transactional or dead_letters) and producer is None:
            raise ValueError("transactional mode and dead letters need a producer")
        self.consumer = consumer
        self.topics_in = list(topics_in)
        self.handler = handler
        self.service = service
        self.group_id = group_id
        self.producer = producer
        self.transactional = transactional
        self.dead_letters = dead_letters
        self.transient = transient
        self.max_records = max_records
        self.timeout_ms = timeout_ms
        self.max_backoff_s = max_backoff_s
        # Builds a replacement for a fenced producer (same transactional id, new epoch).
        self.producer_factory = producer_factory
        self.producer_rebuilds = 0
        self.batch_lock = asyncio.Lock()
        self.lag_labels: set[tuple[str, str, str]] = set()
        self.healthy = False
        self.batches = 0
        self._committed: Offsets = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts the consumer and the loop as a background task."""
        self.consumer.subscribe(self.topics_in, listener=_CommitOnRevoke(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-consumer")
        watch(self)

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Lets the batch in flight finish and commit, then leaves the group."""
        self._stopping.set()
        unwatch(self)
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout_s)
            if not self._task.done():
                log.warning("batch did not finish in %.0fs; abandoning it uncommitted", timeout_s)
                self._task.cancel()
                await asyncio.wait({self._task})
            if not self._task.cancelled():
                self._task.exception()  # retrieved: a loop that died was logged already
        with contextlib.suppress(Exception):
            await self.consumer.stop()

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    @property
    def name(self) -> str:
        """The loop's name in /healthz: service and group."""
        return f"{self.service} consumer ({self.group_id})"

    @property
    def alive(self) -> bool:
        """False once the loop died by itself (liveness: restart the process)."""
        return self._task is None or self.running or self._stopping.is_set()

    def forget(self, tp: TopicPartition) -> None:
        """Drops what this instance knew of a partition it no longer owns."""
        self._committed.pop(tp, None)
        labels = (self.service, tp.topic, str(tp.partition))
        if labels in self.lag_labels:
            CONSUMER_LAG.remove(*labels)
            self.lag_labels.discard(labels)

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("consumer loop died; liveness now fails")
            raise

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            batches: dict[TopicPartition, list[Record]] = {}
            try:
                # Inside the try: a fetch can fail too (a codec, a corrupt batch, the network).
                batches = await self.consumer.getmany(
                    timeout_ms=self.timeout_ms, max_records=self.max_records
                )
                async with self.batch_lock:
                    if batches:
                        await self._consume(batches)
                    else:
                        await self._advance_idle()
                failures = 0
                self.healthy = True
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                await self._back_off(failures, batches)
                if self.producer_factory is not None and producer_fenced(self.producer):
                    await self._rebuild_producer()

    async def _rebuild_producer(self) -> None:
        """Replaces a fenced producer; the batch it failed is re-read and done again."""
        assert self.producer_factory is not None
        log.warning(
            "producer fenced (a newer one with its id, or a timed-out transaction); rebuilding"
        )
        fresh = self.producer_factory()
        try:
            await fresh.start()  # fences any older producer of this transactional id
        except Exception:
            log.exception("could not start a new producer; trying again after the next failure")
            with contextlib.suppress(Exception):
                await fresh.stop()
            return
        old, self.producer = self.producer, fresh
        self.producer_rebuilds += 1
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()

    async def _back_off(self, failures: int, batches: dict[TopicPartition, list[Record]]) -> None:
        backoff = min(self.max_backoff_s, 0.2 * 2**failures)
        failed = [r for items in batches.values() for r in items]
        shared, ids = batch_correlation(failed)
        with correlation_scope(shared):
            log.exception(
                "batch failed; retrying after %.1fs",
                backoff,
                extra={"records": len(failed), "correlation_ids": ids},
            )
        self.healthy = failures < UNHEALTHY_AFTER_FAILURES
        for tp, items in batches.items():
            if tp in self.consumer.assignment():
                # Re-read from where this batch's commits stopped (halves may have committed).
                self.consumer.seek(tp, max(items[0].offset, self._committed.get(tp, -1)))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), backoff)

    async def _consume(self, batches: dict[TopicPartition, list[Record]]) -> None:
        started = time.perf_counter()
        records = [r for tp in sorted(batches, key=str) for r in batches[tp]]
        # The position lies past any transaction marker that followed the last record.
        ends = {tp: await self.consumer.position(tp) for tp in batches}
        lasts = {tp: items[-1].offset for tp, items in batches.items()}
        await self._isolating(records, ends, lasts)
        for topic in {r.topic for r in records}:
            CONSUMER_BATCH_SECONDS.labels(self.service, topic).observe(
                time.perf_counter() - started
            )
        self.batches += 1
        self._observe_lag(ends)

    async def _isolating(self, records: list[Record], ends: Offsets, lasts: Offsets) -> None:
        """Processes records; on a data fault, halves until the bad record stands alone."""
        offsets = _offsets(records, ends, lasts)
        try:
            await self._process(records, offsets)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A fenced producer fails every record alike: not the data's fault, nothing to halve.
            if self.transient(exc) or producer_fenced(self.producer):
                raise
            if len(records) == 1:
                await self._dead_letter(records[0], exc, offsets)
                return
            log.warning(
                "batch of %d failed (%s); retrying its halves to find the bad record",
                len(records),
                type(exc).__name__,
                extra={"correlation_ids": batch_correlation(records)[1]},
            )
        middle = len(records) // 2
        await self._isolating(records[:middle], ends, lasts)
        await self._isolating(records[middle:], ends, lasts)

    async def _process(self, records: list[Record], offsets: Offsets) -> None:
        shared, ids = batch_correlation(records)
        with correlation_scope(shared or correlation_id_var.get()):
            log.debug("handling %d records", len(records), extra={"correlation_ids": ids})
            await self._handle(records, offsets)

    async def _handle(self, records: list[Record], offsets: Offsets) -> None:
        if self.transactional:
            assert self.producer is not None
            emitter = _CorrelatingEmitter(self.producer, service=self.service)
            async with self.producer.transaction():
                await self.handler(records, emitter)
                await emitter.flush()
                await self.producer.send_offsets_to_transaction(offsets, self.group_id)
        else:
            plain = _DeferredEmitter(self.producer, service=self.service) if self.producer else None
            await self.handler(records, plain)  # type: ignore[arg-type]
            if plain is not None:
                await plain.flush()
            await self.consumer.commit(offsets)
        self._committed.update(offsets)

    async def _dead_letter(self, record: Record, exc: Exception, offsets: Offsets) -> None:
        with correlation_scope(correlation_of(record)):
            await self._set_aside(record, exc, offsets)

    async def _set_aside(self, record: Record, exc: Exception, offsets: Offsets) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        if not self.dead_letters:
            log.error("skipping a record that cannot be processed (no DLQ): %s", detail[:300])
            count(self.service, record.topic, "skipped")
            await self._commit_only(offsets)
            return
        assert self.producer is not None
        emitter = _CorrelatingEmitter(self.producer, service=self.service)

        async def send() -> None:
            await send_dead_letter(
                emitter,
                record,
                reason=DeadLetterReason.PROCESSING_ERROR,
                detail=detail,
                service=self.service,
                group_id=self.group_id,
                dlq=topics.dlq_topic(record.topic),
            )
            await emitter.flush()

        if self.transactional:
            async with self.producer.transaction():
                await send()
                await self.producer.send_offsets_to_transaction(offsets, self.group_id)
        else:
            await send()
            await self.consumer.commit(offsets)
        self._committed.update(offsets)

    async def _commit_only(self, offsets: Offsets) -> None:
        if self.transactional:
            assert self.producer is not None
            async with self.producer.transaction():
                await self.producer.send_offsets_to_transaction(offsets, self.group_id)
        else:
            await self.consumer.commit(offsets)
        self._committed.update(offsets)

    async def _advance_idle(self) -> None:
        """Commits positions that moved past transaction markers alone (no record to handle).

        A transaction's commit marker takes an offset after its last record; when it arrives
        in a later fetch than the records, only this moves the group's offset onto the end.
        """
        ahead: Offsets = {}
        for tp in self.consumer.assignment():
            if self.consumer.highwater(tp) is None:
                continue  # not fetched yet: no position of ours to commit
            position = await self.consumer.position(tp)
            if tp not in self._committed:
                committed = await self.consumer.committed(tp)
                self._committed[tp] = committed if committed is not None else -1
            if position > self._committed[tp]:
                ahead[tp] = position
        if ahead:
            await self._commit_only(ahead)
            self._observe_lag(ahead)

    def _observe_lag(self, positions: Offsets) -> None:
        for tp, position in positions.items():
            # What a read_committed reader can reach is the last stable offset.
            stable = self.consumer.last_stable_offset(tp)
            end = stable if stable is not None and stable >= 0 else self.consumer.highwater(tp)
            if end is None:
                continue
            labels = (self.service, tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(max(0, end - position))
            self.lag_labels.add(labels)


def _offsets(records: Sequence[Record], ends: Offsets, lasts: Offsets) -> Offsets:
    """Offsets to commit after `records`: the batch's end position where they reach it."""
    offsets: Offsets = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = ends[tp] if record.offset == lasts[tp] else record.offset + 1
    return offsets
