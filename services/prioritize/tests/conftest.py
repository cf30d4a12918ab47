"""Prioritize test fixtures: apps on SQLite or PostgreSQL, driven through their lifespan."""

from typing import Any

from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings

from tests.support.fixtures import app_test_settings, broker_app_client, store_urls

sqlite_url, database_url = store_urls("prioritize.db")


def make_settings(**overrides: Any) -> PrioritizeSettings:
    """Settings for a test app (fast batches and outbox polling)."""
    defaults: dict[str, Any] = app_test_settings() | {
        "outbox_poll_s": 0.1,
    }
    return PrioritizeSettings(**(defaults | overrides))


app_client = broker_app_client(
    make_settings=make_settings, create_app=create_app, base_url="http://prioritize"
)
