"""The second way in: `touchpoint.reported` events on the `touchpoints` topic.

Solicit reads the topic in its main group (`consumer_group`, feedloop-solicit) with the shared
consumer shell (feedloop.common.consumer): each batch's touchpoints are recorded in one
transaction by the same `service.record` as `POST /v1/touchpoints/batch`, so a touchpoint is
decided once per (source_system, touchpoint_id) whichever way it came in, and a batch re-read
after a crash finds its touchpoints recorded (duplicates). Offsets are committed after the
transaction. A record it cannot take (unreadable, an unknown type or version, or a touchpoint
the API would refuse with 422) goes to `touchpoints.dlq` with its reason; the rest of the batch
goes on.
"""

import functools
import logging
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.consumer import BatchConsumer
from feedloop.common.dbfaults import db_transient
from feedloop.common.events import Envelope, TouchpointReported, utcnow
from feedloop.common.kafka import (
    BatchHandler,
    Emitter,
    Record,
    count,
    create_consumer,
    decode_or_dead_letter,
)
from feedloop.solicit.outbox import SERVICE
from feedloop.solicit.programs import ProgramsConfig
from feedloop.solicit.settings import SolicitSettings
from feedloop.solicit.touchpoints import service
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


def _decoded(record: Record) -> Envelope[TouchpointReported]:
    envelope: Envelope[TouchpointReported] = decode(record.value, accept=[TouchpointReported])
    return envelope


def touchpoints_handler(
    *,
    engine: AsyncEngine,
    settings: SolicitSettings,
    programs: ProgramsConfig,
    on_commit: Callable[[], None],
) -> BatchHandler:
    """Returns the batch handler of `touchpoints`: record, decide, or dead-letter with reason."""
    topic = settings.topic(topics.TOUCHPOINTS)
    taken = functools.partial(
        decode_or_dead_letter,
        decode=_decoded,
        service=SERVICE,
        group_id=settings.consumer_group,
        dlq=settings.topic(topics.dlq_topic(topics.TOUCHPOINTS)),
    )

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        envelopes = await taken(records, emitter)
        count(SERVICE, topic, "dead_lettered", len(records) - len(envelopes))
        items = [e.payload.touchpoint for e in envelopes]
        if not items:
            return
        async with engine.begin() as conn:
            reads = await service.record(
                conn=conn,
                items=items,
                config=programs,
                callbacks=service.callbacks_of(settings, items),
                now=utcnow(),
            )
        on_commit()
        repeats = sum(read.duplicate for read in reads)
        count(SERVICE, topic, "duplicate", repeats)
        count(SERVICE, topic, "processed", len(reads) - repeats)

    return handle


def consumer(
    app: FastAPI, engine: AsyncEngine, settings: SolicitSettings, programs: ProgramsConfig
) -> BatchConsumer:
    """Returns solicit's loop on `touchpoints` (its main consumer group)."""

    def wake_sender() -> None:
        if app.state.sender is not None:
            app.state.sender.wake()

    return BatchConsumer(
        consumer=create_consumer(settings, group_id=settings.consumer_group),
        topics_in=[settings.topic(topics.TOUCHPOINTS)],
        handler=touchpoints_handler(
            engine=engine, settings=settings, programs=programs, on_commit=wake_sender
        ),
        service=SERVICE,
        group_id=settings.consumer_group,
        producer=app.state.producer,
        dead_letters=True,
        transient=db_transient,
        max_records=settings.batch_max_records,
        timeout_ms=settings.batch_timeout_ms,
    )
