"""Contact data straight from `raw-feedback`: the only topic that carries it (issue 13).

enrich drops the e-mail address and the social handle from what it passes on, so `enriched`
and `prioritized` carry no contact data; notify, the one stage that writes to customers, reads
the addresses here, in a group of its own, into its customer table. The same rules as before
apply: the source system that gave a customer's address first owns it (only it may change it),
and an erased customer's address is never stored again. Records it cannot read are skipped
(enrich dead-letters them).
"""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.codec import PoisonRecord, decode
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.dbfaults import db_transient
from feedloop.common.events import FeedbackReceived, utcnow
from feedloop.common.kafka import BatchHandler, Emitter, Record, count, create_consumer
from feedloop.notify.intake.consumer import SERVICE
from feedloop.notify.intake.staging import owned_email_update
from feedloop.notify.models import customer_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


def contacts_group(consumer_group: str) -> str:
    """The group notify reads `raw-feedback` in: its main group's name + "-contacts"."""
    return f"{consumer_group}-contacts"


def addresses(records: Sequence[Record]) -> dict[tuple[str, str], str]:
    """The e-mail addresses a batch gives, by (customer, source system), first one kept."""
    found: dict[tuple[str, str], str] = {}
    for record in records:
        try:
            item: Any = decode(record.value, accept=[FeedbackReceived]).payload.item
        except PoisonRecord:
            continue
        if item.customer.email:
            found.setdefault((item.customer.id, item.source_system), str(item.customer.email))
    return found


async def store_addresses(engine: AsyncEngine, found: dict[tuple[str, str], str]) -> None:
    """Stores addresses under the ownership rule; never for an erased customer."""
    now = utcnow()
    async with engine.begin() as conn:
        await insert_ignoring_conflicts(
            conn,
            customer_t,
            [{"id": c, "email": None, "updated_at": now} for c, _ in found],
        )
        await conn.execute(
            owned_email_update(now),
            [{"b_id": c, "b_source": s, "b_email": e} for (c, s), e in found.items()],
        )


def contacts_handler(*, engine: AsyncEngine, settings: NotifySettings) -> BatchHandler:
    """Returns the batch handler of `raw-feedback` for contact data."""
    topic = settings.topic(topics.RAW_FEEDBACK)

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        del emitter
        found = addresses(records)
        if found:
            await store_addresses(engine, found)
        count(SERVICE, topic, "processed", len(records))

    return handle


def consumer(app: FastAPI, engine: AsyncEngine, settings: NotifySettings) -> BatchConsumer:
    """Returns notify's loop on `raw-feedback` (contact data only)."""
    del app
    group = contacts_group(settings.consumer_group)
    return BatchConsumer(
        consumer=create_consumer(settings, group_id=group),
        topics_in=[settings.topic(topics.RAW_FEEDBACK)],
        handler=contacts_handler(engine=engine, settings=settings),
        service=SERVICE,
        group_id=group,
        producer=None,
        dead_letters=False,
        transient=db_transient,
        max_records=settings.batch_max_records,
        timeout_ms=settings.batch_timeout_ms,
    )
