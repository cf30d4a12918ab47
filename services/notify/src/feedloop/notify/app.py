"""The notify app factory and its lifespan (DB, migrations, consumer, sender, outbox relay)."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.auth import ApiKeyAuth, dev_client, load_clients
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import create_engine, db_reachable
from feedloop.common.dbfaults import db_transient
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import create_consumer, create_producer, kafka_reachable
from feedloop.common.logs import configure_logging
from feedloop.common.openapi import install_openapi
from feedloop.common.openapi import install_openapi
from feedloop.common.web import docs_options, install_common
from feedloop.notify.api import router
from feedloop.notify.delivery.channels.mail import EmailChannel
from feedloop.notify.delivery.channels.webhook import WebhookChannel
from feedloop.notify.delivery.render import Renderer
from feedloop.notify.delivery.sender import Sender
from feedloop.notify.intake.consumer import SERVICE, prioritized_handler
from feedloop.notify.migrate import upgrade
from feedloop.notify.outbox import create_relay
from feedloop.notify.settings import (
    SCOPE_ADMIN,
    SCOPE_ERASE,
    SCOPE_READ,
    SCOPE_WRITE,
    NotifySettings,
)


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    """Builds the notify app; nothing connects until the lifespan starts."""
    settings = settings or NotifySettings()
    clients = load_clients(settings.api_keys, settings.api_keys_file)
    if not clients and settings.allows_dev_key:
        clients = [dev_client(frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN, SCOPE_ERASE}))]
    auth = ApiKeyAuth(clients, allow_dev_key=settings.allows_dev_key)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
    )
    renderer = Renderer(
        templates_dir=settings.templates_dir, default_locale=settings.default_locale
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
        if settings.migrate:
            await upgrade(engine)
        producer = create_producer(settings)
        await producer.start()
        relay = create_relay(
            engine=engine,
            producer=producer,
            settings=settings,
            batch=settings.outbox_batch,
            poll_s=settings.outbox_poll_s,
        )
        app.state.relay = relay
        relay.start()
        webhook = WebhookChannel(settings)
        mail = EmailChannel(settings)
        sender: Sender | None = None
        consumer: BatchConsumer | None = None
        try:
            if settings.send:
                sender = Sender(
                    engine=engine,
                    settings=settings,
                    renderer=renderer,
                    channels={"webhook": webhook, "email": mail},
                    on_commit=relay.wake,
                )
                app.state.sender = sender
                sender.start()
            if settings.consume:
                wake_sender = sender.wake if sender is not None else (lambda: None)

                def on_commit() -> None:
                    relay.wake()
                    wake_sender()

                consumer = BatchConsumer(
                    consumer=create_consumer(settings),
                    topics_in=[settings.topic(topics.PRIORITIZED)],
                    handler=prioritized_handler(
                        engine=engine, settings=settings, on_commit=on_commit
                    ),
                    service=SERVICE,
                    group_id=settings.consumer_group,
                    producer=producer,
                    transient=db_transient,
                    max_records=settings.batch_max_records,
                    timeout_ms=settings.batch_timeout_ms,
                )
                await consumer.start()
                app.state.consumer = consumer
            yield
        finally:
            # Reverse order: stop taking work, finish what is in flight, flush the outbox.
            if consumer is not None:
                await consumer.stop()
            if sender is not None:
                await sender.stop()
            await webhook.close()
            await mail.close()
            await relay.stop()
            with contextlib.suppress(Exception):
                await relay.relay_once()
            await producer.stop()
            await engine.dispose()

    app = FastAPI(
        title="feedloop notify API",
        version="1.0.0",
        summary="Customer notifications (webhooks, e-mail): status, failures, resend, "
        "preferences and erasure.",
        lifespan=lifespan,
        **docs_options(settings),
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.engine = engine
    app.state.renderer = renderer
    app.state.relay = None
    app.state.sender = None
    app.state.consumer = None

    async def kafka_ready() -> bool:
        return await kafka_reachable(settings)

    async def db_ready() -> bool:
        return await db_reachable(engine)

    async def consumer_ready() -> bool:
        # A loop failing batch after batch (a dependency down) stalls its partitions.
        consumer: BatchConsumer | None = app.state.consumer
        return consumer is not None and consumer.running and consumer.healthy

    checks: dict[str, ReadinessCheck] = {"kafka": kafka_ready, "database": db_ready}
    if settings.consume:
        checks["consumer"] = consumer_ready
    install_common(app, service=SERVICE, settings=settings, checks=checks)
    app.include_router(router)
    install_openapi(app, settings)
    install_openapi(app, settings)
    return app
