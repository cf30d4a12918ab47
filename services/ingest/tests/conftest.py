"""Ingest test helpers: an app bound to a test topic prefix, driven through its lifespan."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from feedloop.common.auth import DEV_API_KEY, hash_key
from feedloop.ingest.app import create_app
from feedloop.ingest.settings import IngestSettings

from tests.support.items import survey_item

READ_ONLY_KEY = "test-read-only-key"
WRITE_KEY = "test-write-key"
SLOW_KEY = "test-slow-key"


def clients_json() -> str:
    """Three clients: a writer, one without the write scope, one limited to 2 items/s."""
    return orjson.dumps(
        [
            {"client_id": "shop", "key_sha256": hash_key(WRITE_KEY), "scopes": ["feedback:write"]},
            {"client_id": "bi", "key_sha256": hash_key(READ_ONLY_KEY), "scopes": ["issues:read"]},
            {
                "client_id": "slow",
                "key_sha256": hash_key(SLOW_KEY),
                "scopes": ["feedback:write"],
                "rate_per_second": 2,
                "burst": 2,
            },
        ]
    ).decode()


def survey(external_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid NPS survey item."""
    return survey_item(external_id, customer_id=f"cust-{external_id}", **overrides)


AppFactory = Callable[..., Any]


@pytest.fixture
def make_client(kafka_bootstrap: str, topic_prefix: str) -> AppFactory:
    """Builds an ingest app on the test broker and yields an HTTP client for it."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = IngestSettings(
            environment="test",
            kafka_bootstrap_servers=overrides.pop("bootstrap", kafka_bootstrap),
            kafka_topic_prefix=overrides.pop("kafka_topic_prefix", topic_prefix),
            api_keys=clients_json(),
            log_json=False,
            metrics_port=0,
            idempotency_warmup_hours=overrides.pop("idempotency_warmup_hours", 0),
            **overrides,
        )
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://ingest",
                headers={"X-API-Key": WRITE_KEY},
                timeout=30,
            ) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return factory


__all__ = ["DEV_API_KEY", "READ_ONLY_KEY", "SLOW_KEY", "WRITE_KEY", "survey"]
