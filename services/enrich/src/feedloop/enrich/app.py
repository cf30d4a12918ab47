"""The enrich app factory and its lifespan (models, transactional producer, consumer)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.auth import ApiKeyAuth, dev_client, load_clients
from feedloop.common.consumer import BatchConsumer
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import create_consumer, kafka_reachable
from feedloop.common.logs import configure_logging
from feedloop.common.openapi import install_openapi
from feedloop.common.web import docs_options, install_common
from feedloop.enrich.api import router
from feedloop.enrich.consumer import SERVICE, create_transactional_producer, enrich_handler
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import SCOPE_ANALYSE, EnrichSettings


def create_app(settings: EnrichSettings | None = None, enricher: Enricher | None = None) -> FastAPI:
    """Builds the enrich app; the models load (unless given) and Kafka connects at start."""
    settings = settings or EnrichSettings()
    given = enricher
    clients = load_clients(settings.api_keys, settings.api_keys_file)
    if not clients and settings.allows_dev_key:
        clients = [dev_client(frozenset({SCOPE_ANALYSE}))]
    # Without configured clients outside local mode the analyse route answers 401 to everyone.
    auth = ApiKeyAuth(clients, allow_dev_key=settings.allows_dev_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
        loaded = given if given is not None else await asyncio.to_thread(Enricher, settings)
        app.state.enricher = loaded
        consumer: BatchConsumer | None = None
        producer = create_transactional_producer(settings) if settings.consume else None
        try:
            if producer is not None:
                await producer.start()
                consumer = BatchConsumer(
                    consumer=create_consumer(settings),
                    topics_in=[settings.topic(topics.RAW_FEEDBACK)],
                    handler=enrich_handler(enricher=loaded, settings=settings),
                    service=SERVICE,
                    group_id=settings.consumer_group,
                    producer=producer,
                    transactional=True,
                    max_records=settings.batch_max_records,
                    timeout_ms=settings.batch_timeout_ms,
                    # A fenced producer is replaced, not left failing until a restart.
                    producer_factory=lambda: create_transactional_producer(settings),
                )
                await consumer.start()
            app.state.consumer = consumer
            yield
        finally:
            if consumer is not None:
                await consumer.stop()
                producer = consumer.producer  # the one in use: it may have been rebuilt
            if producer is not None:
                await producer.stop()

    app = FastAPI(
        title="feedloop enrich API",
        version="1.0.0",
        summary="Sentiment, themes, language and PII redaction of customer feedback.",
        lifespan=lifespan,
        **docs_options(settings),
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.enricher = None
    app.state.consumer = None

    async def models_ready() -> bool:
        return app.state.enricher is not None

    async def kafka_ready() -> bool:
        return await kafka_reachable(settings)

    async def consumer_ready() -> bool:
        consumer: BatchConsumer | None = app.state.consumer
        return consumer is not None and consumer.running and consumer.healthy

    checks: dict[str, ReadinessCheck] = {"models": models_ready}
    if settings.consume:
        checks |= {"kafka": kafka_ready, "consumer": consumer_ready}
    install_common(app, service=SERVICE, settings=settings, checks=checks)
    app.include_router(router)
    install_openapi(app, settings)
    return app
