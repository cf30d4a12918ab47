"""The enrich app factory and its lifespan (models, transactional producer, consumer)."""

import asyncio
import contextlib

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.auth import build_auth
from feedloop.common.consumer import BatchConsumer
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import create_consumer
from feedloop.common.openapi import install_openapi
from feedloop.common.shell import Step, build_lifespan, consumers_check, kafka_check, service_app
from feedloop.enrich.api import router
from feedloop.enrich.consumer import SERVICE, create_transactional_producer, enrich_handler
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import SCOPE_ANALYSE, EnrichSettings


def create_app(settings: EnrichSettings | None = None, enricher: Enricher | None = None) -> FastAPI:
    """Builds the enrich app; the models load (unless given) and Kafka connects at start."""
    settings = settings or EnrichSettings()
    # Without configured clients outside local mode the analyse route answers 401 to all.
    auth = build_auth(settings, dev_scopes=frozenset({SCOPE_ANALYSE}))
    steps = [_models_step(settings, enricher)]
    if settings.consume:
        steps.append(_consumer_step(settings))

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        async def models_ready() -> bool:
            return app.state.enricher is not None

        found: dict[str, ReadinessCheck] = {"models": models_ready}
        if settings.consume:
            found |= {"kafka": kafka_check(settings), "consumer": consumers_check(app)}
        return found

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="Sentiment, themes, language and PII redaction of customer feedback.",
        lifespan=build_lifespan(service=SERVICE, settings=settings, steps=steps),
        routers=[router],
        state={"auth": auth, "enricher": None},
        checks=checks,
    )
    install_openapi(app, settings)
    return app


def _models_step(settings: EnrichSettings, given: Enricher | None) -> Step:
    """Loads the models (in a thread: seconds of CPU) as `app.state.enricher`."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        del stack
        app.state.enricher = given or await asyncio.to_thread(Enricher, settings)

    return step


def _consumer_step(settings: EnrichSettings) -> Step:
    """Runs the raw-feedback loop on a transactional producer, rebuilt when fenced."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        producer = create_transactional_producer(settings)
        await producer.start()
        consumer = BatchConsumer(
            consumer=create_consumer(settings),
            topics_in=[settings.topic(topics.RAW_FEEDBACK)],
            handler=enrich_handler(enricher=app.state.enricher, settings=settings),
            service=SERVICE,
            group_id=settings.consumer_group,
            producer=producer,
            transactional=True,
            max_records=settings.batch_max_records,
            timeout_ms=settings.batch_timeout_ms,
            # A fenced producer is replaced, not left failing until a restart.
            producer_factory=lambda: create_transactional_producer(settings),
        )

        async def stop() -> None:
            await consumer.stop()
            in_use = consumer.producer  # the one in use: it may have been rebuilt
            if in_use is not None:
                await in_use.stop()

        stack.push_async_callback(stop)
        await consumer.start()
        app.state.consumers = [consumer]
        app.state.consumer = consumer

    return step
