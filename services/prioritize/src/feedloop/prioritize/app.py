"""The prioritize app factory and its lifespan (DB engine, migrations, consumers, outbox relay)."""

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
from feedloop.common.web import docs_options, install_common
from feedloop.prioritize.consumer import SERVICE, closed_handler, enriched_handler
from feedloop.prioritize.issues.api import router as issues_router
from feedloop.prioritize.kpis.api import router as kpis_router
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.outbox import OutboxRelay
from feedloop.prioritize.settings import (
    SCOPE_READ,
    SCOPE_RESOLVE,
    SCOPE_WRITE,
    PrioritizeSettings,
)


def create_app(settings: PrioritizeSettings | None = None) -> FastAPI:
    """Builds the prioritize app; nothing connects until the lifespan starts."""
    settings = settings or PrioritizeSettings()
    clients = load_clients(settings.api_keys, settings.api_keys_file)
    if not clients and settings.allows_dev_key:
        clients = [dev_client(frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_RESOLVE}))]
    auth = ApiKeyAuth(clients, allow_dev_key=settings.allows_dev_key)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
        if settings.migrate:
            await upgrade(engine)
        consumers: list[BatchConsumer] = []
        producer = create_producer(settings)
        await producer.start()
        relay = OutboxRelay(
            engine=engine,
            producer=producer,
            settings=settings,
            batch=settings.outbox_batch,
            poll_s=settings.outbox_poll_s,
        )
        app.state.relay = relay
        relay.start()
        try:
            if settings.consume:
                consumers = [
                    BatchConsumer(
                        consumer=create_consumer(settings),
                        topics_in=[settings.topic(topics.ENRICHED)],
                        handler=enriched_handler(
                            engine=engine, settings=settings, on_commit=relay.wake
                        ),
                        service=SERVICE,
                        group_id=settings.consumer_group,
                        producer=producer,
                        transient=db_transient,
                        max_records=settings.batch_max_records,
                        timeout_ms=settings.batch_timeout_ms,
                    ),
                    BatchConsumer(
                        consumer=create_consumer(settings, group_id=settings.closed_consumer_group),
                        topics_in=[settings.topic(topics.CLOSED)],
                        handler=closed_handler(engine=engine, settings=settings),
                        service=SERVICE,
                        group_id=settings.closed_consumer_group,
                        # `closed` has no dead-letter topic of ours: a bad record costs a KPI.
                        dead_letters=False,
                        transient=db_transient,
                        max_records=settings.batch_max_records,
                        timeout_ms=settings.batch_timeout_ms,
                    ),
                ]
                for consumer in consumers:
                    await consumer.start()
            app.state.consumers = consumers
            yield
        finally:
            for consumer in consumers:
                await consumer.stop()
            await relay.stop()
            with contextlib.suppress(Exception):
                await relay.relay_once()
            await producer.stop()
            await engine.dispose()

    app = FastAPI(
        title="feedloop prioritize API",
        version="1.0.0",
        summary="Issues grouped from customer feedback, ranked with reasons; KPIs.",
        lifespan=lifespan,
        **docs_options(settings),
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.engine = engine
    app.state.relay = None
    app.state.consumers = []

    async def kafka_ready() -> bool:
        return await kafka_reachable(settings)

    async def db_ready() -> bool:
        return await db_reachable(engine)

    async def consumers_ready() -> bool:
        # A loop failing batch after batch (a dependency down) stalls its partitions.
        consumers: list[BatchConsumer] = app.state.consumers
        return bool(consumers) and all(c.running and c.healthy for c in consumers)

    checks: dict[str, ReadinessCheck] = {"kafka": kafka_ready, "database": db_ready}
    if settings.consume:
        checks["consumer"] = consumers_ready
    install_common(app, service=SERVICE, settings=settings, checks=checks)
    app.include_router(issues_router)
    app.include_router(kpis_router)
    return app
