"""Enrich test fixtures: one set of loaded models per session, apps on the real test broker."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from feedloop.common.codec import OutgoingRecord
from feedloop.enrich.app import create_app
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings

from tests.support.keys import TEST_API_KEY, api_keys_json

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def make_settings(**overrides: Any) -> EnrichSettings:
    """Settings for a test app: small fast batches, one inference thread."""
    defaults: dict[str, Any] = {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_json": False,
        "batch_timeout_ms": 50,
        "session_timeout_ms": 6000,
        "intra_op_threads": 1,
    }
    return EnrichSettings(**(defaults | overrides))


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    """The models, loaded once for the whole session (they are read-only and thread-safe)."""
    return Enricher(make_settings())


@pytest.fixture
def app_client(kafka_bootstrap: str, topic_prefix: str, enricher: Enricher) -> AppClient:
    """Builds an enrich app on the test broker and yields an HTTP client (dev key)."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        given = overrides.pop("enricher", enricher)
        settings = make_settings(
            kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix, **overrides
        )
        app: FastAPI = create_app(settings, enricher=given)
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://enrich",
                headers={"X-API-Key": TEST_API_KEY},
                timeout=30,
            ) as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return factory


async def send_all(producer: AIOKafkaProducer, records: list[OutgoingRecord]) -> None:
    """Produces records and waits for every acknowledgement."""
    futures = [
        await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in records
    ]
    for future in futures:
        await future
