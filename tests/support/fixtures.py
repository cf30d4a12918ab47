"""Fixture factories shared by the test packages: one definition, bound to each package's values.

A conftest binds a fixture to its name by assignment, e.g. `receiver = webhook_receiver(SECRET)`.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from feedloop.common.db import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from tests.support.clients import AppClient
from tests.support.clients import app_client as start_app
from tests.support.keys import api_keys_json
from tests.support.receivers import SmtpServer, WebhookReceiver


def webhook_receiver(secret: str) -> Callable[[], AsyncIterator[WebhookReceiver]]:
    """A fixture: a webhook receiver on loopback that verifies signatures made with `secret`."""

    @pytest.fixture
    async def receiver() -> AsyncIterator[WebhookReceiver]:
        hooks = WebhookReceiver(secret=secret)
        await hooks.start()
        yield hooks
        await hooks.stop()

    return receiver


def smtp_server() -> Callable[[], Iterator[SmtpServer]]:
    """A fixture: an SMTP server (aiosmtpd) on loopback."""

    @pytest.fixture
    def smtp() -> Iterator[SmtpServer]:
        server = SmtpServer()
        server.start()
        yield server
        server.stop()

    return smtp


def broker_app_client(
    *, make_settings: Callable[..., Any], create_app: Callable[[Any], ASGIApp], base_url: str
) -> Callable[[str, str], AppClient]:
    """A fixture: a factory of the service's app on the test broker (its own topic prefix),
    started through its lifespan behind an HTTP client with the test key.

    `factory(database_url, **overrides)` builds settings with `make_settings`.
    """

    @pytest.fixture
    def app_client(kafka_bootstrap: str, topic_prefix: str) -> AppClient:
        @asynccontextmanager
        async def factory(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
            settings = make_settings(
                kafka_bootstrap_servers=kafka_bootstrap,
                kafka_topic_prefix=topic_prefix,
                database_url=database_url,
                **overrides,
            )
            async with start_app(create_app(settings), base_url=base_url) as client:
                yield client

        return factory

    return app_client


def app_test_settings() -> dict[str, Any]:
    """The settings every in-process test app starts from: test mode, the test API key,
    /metrics on the app, plain logs, short consumer batches and sessions."""
    return {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_json": False,
        "batch_timeout_ms": 50,
        "session_timeout_ms": 6000,
    }


def store_urls(filename: str) -> tuple[Callable[..., str], Callable[..., str]]:
    """Two fixtures for a package whose store is the SQLite file `filename`: `sqlite_url` (a
    fresh file per test) and `database_url` (the test runs once on SQLite, once on PostgreSQL
    through the `postgres_url` fixture). Bind both: `sqlite_url, database_url = store_urls(...)`.
    """

    @pytest.fixture
    def sqlite_url(tmp_path: Path) -> str:
        """A fresh SQLite database file for one test."""
        return f"sqlite+aiosqlite:///{tmp_path}/{filename}"

    @pytest.fixture(params=["sqlite", "postgres"])
    def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
        """The test runs once on SQLite and once on PostgreSQL."""
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path}/{filename}"
        url: str = request.getfixturevalue("postgres_url")
        return url

    return sqlite_url, database_url


def migrated_engine(
    upgrade: Callable[[AsyncEngine], Awaitable[None]], *, name: str = "engine"
) -> Callable[..., AsyncIterator[AsyncEngine]]:
    """A fixture `name`: an engine on `database_url` (SQLite, then PostgreSQL, see store_urls)
    migrated with the service's `upgrade`, disposed after the test."""

    @pytest.fixture(name=name)
    async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
        """A migrated store (SQLite, then PostgreSQL)."""
        created = create_engine(database_url)
        await upgrade(created)
        yield created
        await created.dispose()

    return engine
