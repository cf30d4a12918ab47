"""The ingest app factory and its lifespan (producer, idempotency store, warm-up)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from feedloop.common.auth import ApiClient, ApiKeyAuth, dev_client, load_clients
from feedloop.common.kafka import kafka_reachable
from feedloop.common.logs import configure_logging
from feedloop.common.openapi import install_openapi
from feedloop.common.web import docs_options, install_common
from feedloop.ingest.api import install_item_schemas, router
from feedloop.ingest.idempotency import IdempotencyStore
from feedloop.ingest.producer import DurableProducer
from feedloop.ingest.service import REJECTED, Ingestor, observe_store
from feedloop.ingest.settings import SCOPE_WRITE, IngestSettings
from feedloop.ingest.warmup import warm_store

_REASONS = {401: "unauthenticated", 403: "forbidden", 413: "too_large", 429: "rate_limited"}


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Builds the ingest app; nothing connects until the lifespan starts."""
    settings = settings or IngestSettings()
    clients = load_clients(settings.api_keys, settings.api_keys_file)
    if not clients and settings.allows_dev_key:
        clients = [dev_client(frozenset({SCOPE_WRITE}))]
    _refuse_unbound_writers(clients, settings)
    auth = ApiKeyAuth(clients, allow_dev_key=settings.allows_dev_key)
    producer = DurableProducer(settings)
    store = IdempotencyStore(
        max_entries=settings.idempotency_cache_size,
        ttl_s=settings.idempotency_ttl_s,
        max_bytes=settings.idempotency_max_bytes,
        keys_max_bytes_per_client=settings.idempotency_keys_max_bytes_per_client,
    )
    observe_store(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service="ingest", level=settings.log_level, json=settings.log_json)
        await producer.start()
        warmup = asyncio.create_task(warm_store(settings, store))
        try:
            yield
        finally:
            warmup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warmup
            await producer.stop()

    app = FastAPI(
        title="feedloop ingest API",
        version="1.0.0",
        summary="Submit customer feedback from any channel; durable on Kafka before 202.",
        lifespan=lifespan,
        **docs_options(settings),
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.ingestor = Ingestor(
        producer=producer, store=store, topic_prefix=settings.kafka_topic_prefix
    )

    async def kafka_ready() -> bool:
        return producer.connected or await kafka_reachable(settings)

    def count_refusals(path: str, status: int) -> None:
        reason = _REASONS.get(status)
        if reason and path.startswith("/v1/"):
            REJECTED.labels(reason).inc()

    install_common(
        app,
        service="ingest",
        settings=settings,
        checks={"kafka": kafka_ready},
        on_status=count_refusals,
    )
    app.include_router(router)
    install_item_schemas(app)
    install_openapi(app, settings)
    return app


def _refuse_unbound_writers(clients: list[ApiClient], settings: IngestSettings) -> None:
    # Outside local mode and tests a writer must name its source systems: an unbound key could
    # claim another system's external ids first, or speak for its customers.
    if settings.is_local:
        return
    unbound = [c.client_id for c in clients if SCOPE_WRITE in c.scopes and c.source_systems is None]
    if unbound:
        raise ValueError(f"clients {unbound} may write but list no source_systems")
