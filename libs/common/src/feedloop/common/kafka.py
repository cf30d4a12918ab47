"""Kafka runtime: idempotent producers, a batch consumer loop with manual commit, dead letters."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import ConsumerRecord
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, Headers, OutgoingRecord
from feedloop.common.metrics import (
    CONSUMER_BATCH_SECONDS,
    CONSUMER_LAG,
    CONSUMER_RECORDS,
    DLQ_RECORDS,
    PRODUCE_LATENCY,
)
from feedloop.common.settings import ConsumerSettings, ServiceSettings

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Returns the connection options every Kafka client of a service shares."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.kafka_client_id or settings.service_name,
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        # aiokafka needs an explicit context; the cluster CA (Strimzi's cluster-ca-cert)
        # verifies the brokers, or the system store when none is configured.
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password,
        }
    return options


def create_producer(
    settings: ServiceSettings,
    *,
    transactional_id: str | None = None,
    linger_ms: int = 5,
    **overrides: Any,
) -> AIOKafkaProducer:
    """Returns an idempotent (acks=all) producer, transactional when given an id."""
    options = client_options(settings) | {
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": linger_ms,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
    }
    if transactional_id:
        options["transactional_id"] = transactional_id
    return AIOKafkaProducer(**(options | overrides))


def create_consumer(
    settings: ConsumerSettings, *subscribe_to: str, group_id: str | None = None
) -> AIOKafkaConsumer:
    """Returns a read_committed consumer with manual commits (BatchConsumer subscribes it)."""
    del subscribe_to
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=group_id or settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


class Emitter:
    """Sends records through one producer and waits for all acknowledgements at flush()."""

    def __init__(self, producer: AIOKafkaProducer, *, service: str) -> None:
        self.producer = producer
        self.service = service
        self._pending: list[tuple[str, float, asyncio.Future[Any]]] = []

    async def send(self, record: OutgoingRecord) -> None:
        """Queues a record; its delivery is confirmed by flush()."""
        future = await self.producer.send(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )
        self._pending.append((record.topic, time.perf_counter(), future))

    async def flush(self) -> None:
        """Waits until the broker acknowledged every queued record; raises if one failed."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        await asyncio.gather(*(future for _, _, future in pending))
        done = time.perf_counter()
        for topic, started, _ in pending:
            PRODUCE_LATENCY.labels(self.service, topic).observe(done - started)


def dead_letter_record(
    record: Record,
    *,
    reason: DeadLetterReason,
    detail: str,
    group_id: str,
    dlq: str | None = None,
) -> OutgoingRecord:
    """Returns the original record addressed to its dead-letter topic, with reason headers."""
    replays = 0
    kept: Headers = []
    for key, value in record.headers or ():
        if key == topics.HEADER_DLQ_REPLAY_COUNT:
            with contextlib.suppress(ValueError):
                replays = int(value.decode())
        if not key.startswith("dlq_"):
            kept.append((key, value))
    extra: Headers = [
        (topics.HEADER_DLQ_REASON, str(reason).encode()),
        (topics.HEADER_DLQ_ERROR, detail[:4000].encode()),
        (topics.HEADER_DLQ_SOURCE_TOPIC, record.topic.encode()),
        (topics.HEADER_DLQ_SOURCE_PARTITION, str(record.partition).encode()),
        (topics.HEADER_DLQ_SOURCE_OFFSET, str(record.offset).encode()),
        (topics.HEADER_DLQ_CONSUMER_GROUP, group_id.encode()),
        (topics.HEADER_DLQ_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        (topics.HEADER_DLQ_REPLAY_COUNT, str(replays).encode()),
    ]
    return OutgoingRecord(
        topic=dlq or topics.dlq_topic(record.topic),
        key=record.key,
        value=record.value if record.value is not None else b"",
        headers=kept + extra,
    )


async def send_dead_letter(
    emitter: Emitter,
    record: Record,
    *,
    reason: DeadLetterReason,
    detail: str,
    service: str,
    group_id: str,
    dlq: str,
) -> None:
    """Sends a record to its dead-letter topic with the reason headers; logs and counts it."""
    log.warning(
        "dead-lettering a record: %s: %s",
        reason,
        detail[:300],
        extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
    )
    await emitter.send(
        dead_letter_record(record, reason=reason, detail=detail, group_id=group_id, dlq=dlq)
    )
    DLQ_RECORDS.labels(service, record.topic, str(reason)).inc()
    count(service, record.topic, "dead_lettered")


BatchHandler = Callable[[Sequence[Record], Emitter], Awaitable[None]]


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: "BatchConsumer") -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in flight, so its offsets are committed before others take over.
        async with self.owner.batch_lock:
            for tp in revoked:
                labels = (self.owner.service, tp.topic, str(tp.partition))
                if labels in self.owner.lag_labels:
                    CONSUMER_LAG.remove(*labels)
                    self.owner.lag_labels.discard(labels)
        log.info("partitions revoked", extra={"partitions": [str(tp) for tp in revoked]})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [str(tp) for tp in assigned]})


class BatchConsumer:
    """Consumes batches, hands them to a handler, and commits only after the work is durable.

    Two modes: with `transactional_producer`, each batch's output and its input offsets are
    committed in one Kafka transaction (Kafka in, Kafka out); without it, the handler makes
    its work durable (a database commit, an acknowledged produce) and the offsets are committed
    afterwards. Either way a failed batch is re-read from its first offset, so handlers must
    ignore repeats by event id.
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
        max_records: int = 500,
        timeout_ms: int = 200,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.consumer = consumer
        self.topics_in = list(topics_in)
        self.handler = handler
        self.service = service
        self.group_id = group_id
        self.producer = producer
        self.transactional = transactional
        self.max_records = max_records
        self.timeout_ms = timeout_ms
        self.max_backoff_s = max_backoff_s
        self.batch_lock = asyncio.Lock()
        self.lag_labels: set[tuple[str, str, str]] = set()
        self.healthy = False
        self.batches = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if transactional and producer is None:
            raise ValueError("transactional mode needs a transactional producer")

    async def start(self) -> None:
        """Starts the consumer and the loop as a background task."""
        self.consumer.subscribe(self.topics_in, listener=_CommitOnRevoke(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-consumer")

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Lets the batch in flight finish and commit, then leaves the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                log.warning("batch did not finish in %.0fs; abandoning it uncommitted", timeout_s)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        with contextlib.suppress(Exception):
            await self.consumer.stop()

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            batches = await self.consumer.getmany(
                timeout_ms=self.timeout_ms, max_records=self.max_records
            )
            self.healthy = True
            if not batches:
                continue
            records = [r for tp in sorted(batches, key=str) for r in batches[tp]]
            started = time.perf_counter()
            try:
                async with self.batch_lock:
                    await self._process(batches, records)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                backoff = min(self.max_backoff_s, 0.2 * 2**failures)
                log.exception(
                    "batch failed; re-reading it after %.1fs",
                    backoff,
                    extra={"records": len(records)},
                )
                self.healthy = failures < 5
                for tp, items in batches.items():
                    if tp in self.consumer.assignment():
                        self.consumer.seek(tp, items[0].offset)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                continue
            for topic in {r.topic for r in records}:
                CONSUMER_BATCH_SECONDS.labels(self.service, topic).observe(
                    time.perf_counter() - started
                )
            self.batches += 1
            self._observe_lag(batches)

    async def _process(
        self, batches: dict[TopicPartition, list[Record]], records: list[Record]
    ) -> None:
        offsets = {tp: items[-1].offset + 1 for tp, items in batches.items()}
        if self.transactional:
            assert self.producer is not None
            emitter = Emitter(self.producer, service=self.service)
            async with self.producer.transaction():
                await self.handler(records, emitter)
                await emitter.flush()
                await self.producer.send_offsets_to_transaction(offsets, self.group_id)
        else:
            plain = Emitter(self.producer, service=self.service) if self.producer else None
            await self.handler(records, plain)  # type: ignore[arg-type]
            if plain is not None:
                await plain.flush()
            await self.consumer.commit(offsets)

    def _observe_lag(self, batches: dict[TopicPartition, list[Record]]) -> None:
        for tp, items in batches.items():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            labels = (self.service, tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(max(0, highwater - items[-1].offset - 1))
            self.lag_labels.add(labels)


def count(service: str, topic: str, outcome: str, n: int = 1) -> None:
    """Counts consumed records by outcome (processed, duplicate, dead_lettered)."""
    if n:
        CONSUMER_RECORDS.labels(service, topic, outcome).inc(n)


async def ensure_topics(
    settings: ServiceSettings,
    names: Sequence[str] = topics.ALL_TOPICS,
    *,
    partitions: int = 6,
    replication: int = 1,
) -> list[str]:
    """Creates missing topics (with the settings' prefix) and explicit partition counts."""
    names = [settings.topic(name) for name in names]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, partitions, replication) for name in missing]
                )
        return missing
    finally:
        await admin.close()


async def kafka_reachable(settings: ServiceSettings, timeout_s: float = 2.0) -> bool:
    """True when the cluster answers a metadata request in time."""
    options = client_options(settings) | {"request_timeout_ms": int(timeout_s * 1000)}
    admin = AIOKafkaAdminClient(**options)
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except (KafkaError, TimeoutError, OSError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
