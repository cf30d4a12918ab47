"""Data-rights requests: erasure events on `customer-requests`, and the loop every stage runs.

One service (notify) takes a customer's erasure request and publishes
`customer.erasure_requested` on the compacted `customer-requests` topic, keyed by customer id.
Every stage reads that topic in its own consumer group, erases what it holds of the customer
(idempotently: a repeat finds nothing left) and confirms with `customer.erased`, keyed by
customer id and service, so compaction keeps each service's latest confirmation and the
customer's latest request side by side. A stage that was down reads the request when it
returns: the topic is compacted, never expired, so nothing is missed.

The topic carries customer ids (pseudonymous keys), never contact data or text; that a
customer asked to be erased is itself the record the company must be able to show.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, PoisonRecord, decode, encode
from feedloop.common.consumer import BatchConsumer, TransientCheck, kafka_transient
from feedloop.common.events import (
    CustomerErased,
    CustomerErasureRequested,
    Envelope,
    deterministic_id,
    utcnow,
)
from feedloop.common.kafka import BatchHandler, Emitter, Record, count, create_consumer
from feedloop.common.logs import correlation_id_var
from feedloop.common.settings import ConsumerSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

ERASURE_SERVICES: Final = ("ingest", "prioritize", "notify")
"""The services that hold a customer's data and erase it when they read a request."""
TOPICS: Final = "topics"
"""The confirmation that the topics were cut past the customer's records (topic_erasure)."""
CONFIRMERS: Final = (*ERASURE_SERVICES, TOPICS)
"""Everyone that must confirm an erasure before it is complete."""


def decode_rights(value: bytes | None) -> Envelope[Any]:
    """Parses a `customer-requests` record; raises PoisonRecord naming why it cannot be read."""
    return decode(value, accept=[CustomerErasureRequested, CustomerErased])


def erasure_request_id(customer_id: str, requested_at: str) -> str:
    """Returns the id of the erasure of a customer asked for at a given time."""
    return deterministic_id("customer.erasure_requested", customer_id, requested_at)


def requested_record(request: CustomerErasureRequested, *, prefix: str) -> OutgoingRecord:
    """Returns the `customer.erasure_requested` record, keyed by customer id."""
    envelope = Envelope.wrap(
        request,
        event_id=request.request_id,
        producer="notify",
        correlation_id=correlation_id_var.get() or request.request_id,
        occurred_at=request.requested_at,
    )
    return encode(envelope, key=request.customer_id, prefix=prefix)


def erased_record(
    request: CustomerErasureRequested, *, service: str, counts: dict[str, int], prefix: str
) -> OutgoingRecord:
    """Returns a service's `customer.erased` confirmation, keyed by customer id and service."""
    confirmation = CustomerErased(
        request_id=request.request_id,
        customer_id=request.customer_id,
        service=service,
        counts=counts,
        erased_at=utcnow(),
    )
    envelope = Envelope.wrap(
        confirmation,
        event_id=deterministic_id("customer.erased", request.request_id, service),
        producer=service,
        correlation_id=request.request_id,
        occurred_at=confirmation.erased_at,
    )
    return encode(envelope, key=f"{request.customer_id}/{service}", prefix=prefix)


Eraser = Callable[[CustomerErasureRequested], Awaitable[dict[str, int]]]
"""Erases what one service holds of a customer (idempotent); returns counts by kind."""
ConfirmationSink = Callable[[Sequence[CustomerErased]], Awaitable[None]]
"""Records confirmations (the service that took the request shows them)."""


def rights_handler(
    *,
    service: str,
    erase: Eraser,
    prefix: str,
    on_confirmations: ConfirmationSink | None = None,
) -> BatchHandler:
    """Returns the batch handler of `customer-requests`: erase, then confirm, per request.

    The confirmation is sent before the offsets are committed, so a crash in between repeats
    the erasure (which then finds nothing more) and the confirmation (same event id).
    """
    topic = prefix + topics.CUSTOMER_REQUESTS

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        confirmations: list[CustomerErased] = []
        for record in records:
            try:
                payload = decode_rights(record.value).payload
            except PoisonRecord as exc:
                # No dead-letter topic: an unreadable request is logged loudly and skipped.
                log.error(
                    "unreadable data-rights record skipped: %s",
                    exc,
                    extra={"offset": record.offset},
                )
                count(service, topic, "dead_lettered")
                continue
            if isinstance(payload, CustomerErasureRequested):
                counts = await erase(payload)
                await emitter.send(
                    erased_record(payload, service=service, counts=counts, prefix=prefix)
                )
                log.info(
                    "customer erased", extra={"request_id": payload.request_id, "counts": counts}
                )
            elif isinstance(payload, CustomerErased):
                confirmations.append(payload)
            count(service, topic, "processed")
        if confirmations and on_confirmations is not None:
            await on_confirmations(confirmations)

    return handle


def rights_group(consumer_group: str) -> str:
    """The group a stage reads `customer-requests` in: its main group's name + "-rights"."""
    return f"{consumer_group}-rights"


def rights_consumer(
    *,
    settings: ConsumerSettings,
    service: str,
    group_id: str,
    handler: BatchHandler,
    producer: AIOKafkaProducer,
    transient: TransientCheck = kafka_transient,
) -> BatchConsumer:
    """Returns the loop that reads `customer-requests` in a service's own group."""
    return BatchConsumer(
        consumer=create_consumer(settings, group_id=group_id),
        topics_in=[settings.topic(topics.CUSTOMER_REQUESTS)],
        handler=handler,
        service=service,
        group_id=group_id,
        producer=producer,
        dead_letters=False,
        transient=transient,
        max_records=100,
    )


StoreEraser = Callable[["AsyncConnection", str], Awaitable[dict[str, int]]]
"""Erases a customer (by id) from a store inside the given transaction; returns counts."""


def store_rights_consumer(
    *,
    settings: ConsumerSettings,
    service: str,
    engine: "AsyncEngine",
    erase_customer: StoreEraser,
    producer: AIOKafkaProducer,
    transient: TransientCheck,
    after_erase: Callable[[], None] | None = None,
    on_confirmations: ConfirmationSink | None = None,
) -> BatchConsumer:
    """Returns the `customer-requests` loop of a stage with a store, in its "-rights" group.

    Each request is erased in one transaction of `engine`; `after_erase` (waking the outbox
    relay) runs once it has committed.
    """

    async def erase(request: CustomerErasureRequested) -> dict[str, int]:
        async with engine.begin() as conn:
            counts = await erase_customer(conn, request.customer_id)
        if after_erase is not None:
            after_erase()
        return counts

    return rights_consumer(
        settings=settings,
        service=service,
        group_id=rights_group(settings.consumer_group),
        handler=rights_handler(
            service=service,
            erase=erase,
            prefix=settings.kafka_topic_prefix,
            on_confirmations=on_confirmations,
        ),
        producer=producer,
        transient=transient,
    )


def app_rights_consumer(
    app: Any,
    engine: "AsyncEngine",
    *,
    settings: ConsumerSettings,
    service: str,
    erase_customer: StoreEraser,
    on_confirmations: ConfirmationSink | None = None,
) -> BatchConsumer:
    """store_rights_consumer wired as a service of the shell wires it: the app's producer,
    database errors retried as transient, and the outbox relay (`app.state.relay`, when the app
    has one) woken after each erasure commits."""
    from feedloop.common.dbfaults import db_transient  # needs the `db` extra

    def wake_relay() -> None:
        relay = getattr(app.state, "relay", None)
        if relay is not None:
            relay.wake()

    return store_rights_consumer(
        settings=settings,
        service=service,
        engine=engine,
        erase_customer=erase_customer,
        producer=app.state.producer,
        transient=db_transient,
        after_erase=wake_relay,
        on_confirmations=on_confirmations,
    )
