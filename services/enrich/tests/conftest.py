"""Enrich test fixtures: one set of loaded models per session, apps on the real test broker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from feedloop.enrich.app import create_app
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings

from tests.support.clients import AppClient
from tests.support.clients import app_client as start_app
from tests.support.fixtures import app_test_settings


def make_settings(**overrides: Any) -> EnrichSettings:
    """Settings for a test app: small fast batches, one inference thread."""
    defaults: dict[str, Any] = app_test_settings() | {
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
        async with start_app(app, base_url="http://enrich") as client:
            yield client

    return factory
