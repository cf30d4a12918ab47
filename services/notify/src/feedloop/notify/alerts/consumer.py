"""notify's loop on `alerts` (a group of its own) and the alert sender's lifespan step."""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from feedloop.common import kafka, topics
from feedloop.common.codec import decode
from feedloop.common.consumer import BatchConsumer
from feedloop.common.dbfaults import db_transient
from feedloop.common.events import SpikeDetected, WeeklyDigest, utcnow
from feedloop.common.kafka import BatchHandler, Emitter, Record
from feedloop.common.shell import Step
from feedloop.notify.alerts import store
from feedloop.notify.alerts.render import KINDS
from feedloop.notify.alerts.sender import AlertSender
from feedloop.notify.delivery.channels.mail import EmailChannel
from feedloop.notify.intake.consumer import SERVICE
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine


def alerts_group(consumer_group: str) -> str:
    """The group notify reads `alerts` in: its main group's name + "-alerts"."""
    return f"{consumer_group}-alerts"


def _alert(record: Record) -> tuple[str, dict[str, Any]]:
    envelope = decode(record.value, accept=[SpikeDetected, WeeklyDigest])
    return KINDS[envelope.event_type], envelope.payload.model_dump(mode="json")


def alerts_handler(
    *, engine: AsyncEngine, settings: NotifySettings, on_commit: Callable[[], None]
) -> BatchHandler:
    """Returns the batch handler of `alerts`: each event fanned out to its subscriptions."""
    topic = settings.topic(topics.ALERTS)
    group = alerts_group(settings.consumer_group)

    async def handle(records: Sequence[Record], emitter: Emitter) -> None:
        alerts = await kafka.decode_or_dead_letter(
            records,
            emitter,
            decode=_alert,
            service=SERVICE,
            group_id=group,
            dlq=settings.topic(topics.dlq_topic(topics.ALERTS)),
        )
        if alerts:
            async with engine.begin() as conn:
                await store.fan_out(conn, alerts, utcnow())
            on_commit()
        kafka.count(SERVICE, topic, "processed", len(alerts))

    return handle


def consumer(app: FastAPI, engine: AsyncEngine, settings: NotifySettings) -> BatchConsumer:
    """Returns notify's loop on `alerts`."""
    sender: AlertSender | None = getattr(app.state, "alert_sender", None)
    group = alerts_group(settings.consumer_group)
    return BatchConsumer(
        consumer=kafka.create_consumer(settings, group_id=group),
        topics_in=[settings.topic(topics.ALERTS)],
        handler=alerts_handler(
            engine=engine,
            settings=settings,
            on_commit=sender.wake if sender is not None else lambda: None,
        ),
        service=SERVICE,
        group_id=group,
        producer=app.state.producer,
        transient=db_transient,
        max_records=settings.batch_max_records,
        timeout_ms=settings.batch_timeout_ms,
    )


def sender_step(engine: AsyncEngine, settings: NotifySettings) -> Step:
    """Starts the alert sender (`app.state.alert_sender`) with its own SMTP pool and HTTP
    client; stops it before the outbox relay."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        mail = EmailChannel(settings)
        stack.push_async_callback(mail.close)
        http = httpx.AsyncClient(timeout=settings.alert_webhook_timeout_s, follow_redirects=False)
        stack.push_async_callback(http.aclose)
        sender = AlertSender(engine=engine, settings=settings, mail=mail, http=http)
        app.state.alert_sender = sender
        sender.start()
        stack.push_async_callback(sender.stop)

    return step
