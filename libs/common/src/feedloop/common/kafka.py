"""Kafka runtime: idempotent producers, consumers with manual commit, dead letters (the batch
loop is feedloop.common.consumer)."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import ConsumerRecord
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason, OutgoingRecord, PoisonRecord
from feedloop.common.dlq import dead_letter_record
from feedloop.common.metrics import CONSUMER_RECORDS, DLQ_RECORDS, PRODUCE_LATENCY
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

_Decoded = TypeVar("_Decoded")


async def decode_or_dead_letter(
    records: Sequence[Record],
    emitter: Emitter,
    *,
    decode: Callable[[Record], _Decoded],
    service: str,
    group_id: str,
    dlq: str,
) -> list[_Decoded]:
    """Decodes each record with `decode`, in order; a record it refuses (PoisonRecord) goes to
    `dlq` with its reason (send_dead_letter) and is left out."""
    decoded: list[_Decoded] = []
    for record in records:
        try:
            decoded.append(decode(record))
        except PoisonRecord as exc:
            await send_dead_letter(
                emitter,
                record,
                reason=exc.reason,
                detail=exc.detail,
                service=service,
                group_id=group_id,
                dlq=dlq,
            )
    return decoded


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
                    [
                        NewTopic(
                            name,
                            partitions,
                            replication,
                            topic_configs=topics.TOPIC_CONFIGS.get(
                                name.removeprefix(settings.kafka_topic_prefix), {}
                            ),
                        )
                        for name in missing
                    ]
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
