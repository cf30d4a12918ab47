"""The ingest app factory and its lifespan (producer, idempotency store, warm-up)."""

from fastapi import FastAPI
from feedloop.common.auth import build_auth, writers_bound_to_sources
from feedloop.common.kafka import kafka_reachable
from feedloop.common.openapi import install_openapi
from feedloop.common.shell import build_lifespan, producer_step, service_app, task_step
from feedloop.ingest.api import install_item_schemas, router
from feedloop.ingest.claims import claims_steps, shared_claims
from feedloop.ingest.idempotency import IdempotencyStore
from feedloop.ingest.producer import DurableProducer
from feedloop.ingest.rights import CustomerIndex, Forgetter, IndexingIngestor, follow_requests
from feedloop.ingest.service import REJECTED, observe_store
from feedloop.ingest.settings import SCOPE_WRITE, IngestSettings
from feedloop.ingest.warmup import warm_store

SERVICE = "ingest"
_REASONS = {401: "unauthenticated", 403: "forbidden", 413: "too_large", 429: "rate_limited"}


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Builds the ingest app; nothing connects until the lifespan starts."""
    settings = settings or IngestSettings()
    auth = build_auth(
        settings,
        dev_scopes=frozenset({SCOPE_WRITE}),
        check=writers_bound_to_sources(scope=SCOPE_WRITE, local=settings.is_local, may="may write"),
    )
    producer = DurableProducer(settings)
    store = IdempotencyStore(
        max_entries=settings.idempotency_cache_size,
        ttl_s=settings.idempotency_ttl_s,
        max_bytes=settings.idempotency_max_bytes,
        keys_max_bytes_per_client=settings.idempotency_keys_max_bytes_per_client,
    )
    observe_store(store)
    index = CustomerIndex(max_customers=settings.idempotency_cache_size)
    shared = shared_claims(settings)
    forgetter = Forgetter(
        settings=settings, store=store, index=index, producer=producer, shared=shared
    )
    steps = [
        producer_step(lambda: producer),
        task_step("ingest-warmup", lambda: warm_store(settings, store)),
        task_step("ingest-rights", lambda: follow_requests(forgetter)),
    ]
    if shared is not None:
        steps[:0] = claims_steps(shared, prune_every_s=settings.claims_prune_interval_s)

    async def kafka_ready() -> bool:
        return producer.connected or await kafka_reachable(settings)

    def count_refusals(path: str, status: int) -> None:
        reason = _REASONS.get(status)
        if reason and path.startswith("/v1/"):
            REJECTED.labels(reason).inc()

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="Submit customer feedback from any channel; durable on Kafka before 202.",
        lifespan=build_lifespan(service=SERVICE, settings=settings, steps=steps),
        routers=[router],
        state={
            "auth": auth,
            "ingestor": IndexingIngestor(
                producer=producer,
                store=store,
                topic_prefix=settings.kafka_topic_prefix,
                index=index,
                shared=shared,
            ),
        },
        checks=lambda app: {"kafka": kafka_ready},
        on_status=count_refusals,
    )
    install_item_schemas(app)
    install_openapi(app, settings)
    return app
