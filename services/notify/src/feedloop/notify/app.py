"""The notify app factory and its lifespan (DB, migrations, consumer, sender, outbox relay)."""

import contextlib

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.auth import build_auth
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import create_store_engine, db_check
from feedloop.common.dbfaults import db_transient
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import create_consumer
from feedloop.common.openapi import install_openapi
from feedloop.common.outbox import stateful_steps
from feedloop.common.shell import (
    Step,
    build_lifespan,
    consumers_step,
    readiness,
    service_app,
    task_step,
)
from feedloop.notify import contacts, export, retention, rights
from feedloop.notify.alerts import consumer as alerts
from feedloop.notify.alerts.api import router as alerts_router
from feedloop.notify.api import router
from feedloop.notify.delivery.channels.mail import EmailChannel
from feedloop.notify.delivery.channels.webhook import WebhookChannel
from feedloop.notify.delivery.render import Renderer
from feedloop.notify.delivery.sender import Sender
from feedloop.notify.intake.consumer import SERVICE, prioritized_handler
from feedloop.notify.migrate import upgrade
from feedloop.notify.outbox import OUTBOX
from feedloop.notify.rights_topics import TopicScrubber
from feedloop.notify.settings import (
    SCOPE_ADMIN,
    SCOPE_ERASE,
    SCOPE_READ,
    SCOPE_WRITE,
    NotifySettings,
)
from sqlalchemy.ext.asyncio import AsyncEngine


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    """Builds the notify app; nothing connects until the lifespan starts."""
    settings = settings or NotifySettings()
    scopes = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN, SCOPE_ERASE, *rights.SCOPES})
    engine = create_store_engine(settings)
    renderer = Renderer(
        templates_dir=settings.templates_dir, default_locale=settings.default_locale
    )
    # Stopped in reverse: stop taking work, finish what is in flight, flush the outbox.
    steps = stateful_steps(
        engine=engine, settings=settings, outbox=OUTBOX, upgrade=upgrade, migrate=settings.migrate
    )
    if settings.send:
        steps.append(_sender_step(engine, settings, renderer))
        steps.append(alerts.sender_step(engine, settings))
    if settings.consume:
        scrubber = TopicScrubber(engine=engine, settings=settings)
        steps.append(task_step("notify-erasure-scrub", scrubber.run))
        steps.append(retention.step(engine, settings))
        steps.append(
            consumers_step(
                lambda app: [
                    _consumer(app, engine, settings),
                    rights.consumer(app, engine, settings),
                    contacts.consumer(app, engine, settings),
                    alerts.consumer(app, engine, settings),
                ]
            )
        )

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        return readiness(app, settings, consume=settings.consume, database=db_check(engine))

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="Customer notifications (webhooks, e-mail): status, failures, resend, "
        "preferences and erasure.",
        lifespan=build_lifespan(service=SERVICE, settings=settings, steps=steps),
        routers=[router, rights.router, export.router, rights.audit_routes, alerts_router],
        state={
            "auth": build_auth(settings, dev_scopes=scopes),
            "engine": engine,
            "renderer": renderer,
            "sender": None,
        },
        checks=checks,
    )
    install_openapi(app, settings)
    return app


def _sender_step(engine: AsyncEngine, settings: NotifySettings, renderer: Renderer) -> Step:
    """Starts the channels and the sender (`app.state.sender`); stops them before the relay."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        webhook = WebhookChannel(settings)
        stack.push_async_callback(webhook.close)
        mail = EmailChannel(settings)
        stack.push_async_callback(mail.close)
        sender = Sender(
            engine=engine,
            settings=settings,
            renderer=renderer,
            channels={"webhook": webhook, "email": mail},
            on_commit=app.state.relay.wake,
        )
        app.state.sender = sender
        sender.start()
        stack.push_async_callback(sender.stop)

    return step


def _consumer(app: FastAPI, engine: AsyncEngine, settings: NotifySettings) -> BatchConsumer:
    relay = app.state.relay
    sender: Sender | None = app.state.sender

    def on_commit() -> None:
        relay.wake()
        if sender is not None:
            sender.wake()

    return BatchConsumer(
        consumer=create_consumer(settings),
        topics_in=[settings.topic(topics.PRIORITIZED)],
        handler=prioritized_handler(engine=engine, settings=settings, on_commit=on_commit),
        service=SERVICE,
        group_id=settings.consumer_group,
        producer=app.state.producer,
        transient=db_transient,
        max_records=settings.batch_max_records,
        timeout_ms=settings.batch_timeout_ms,
    )
