"""Prioritize test fixtures: apps on SQLite or PostgreSQL, driven through their lifespan."""

from pathlib import Path
from typing import Any

import pytest
from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings

from tests.support.fixtures import app_test_settings, broker_app_client


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite+aiosqlite:///{tmp_path}/prioritize.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/prioritize.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def make_settings(**overrides: Any) -> PrioritizeSettings:
    """Settings for a test app (fast batches and outbox polling)."""
    defaults: dict[str, Any] = app_test_settings() | {
        "outbox_poll_s": 0.1,
    }
    return PrioritizeSettings(**(defaults | overrides))


app_client = broker_app_client(
    make_settings=make_settings, create_app=create_app, base_url="http://prioritize"
)
