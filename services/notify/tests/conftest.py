"""Notify test fixtures: the app on SQLite or PostgreSQL, real receivers, bounded waits."""

from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.notify.app import create_app
from feedloop.notify.settings import NotifySettings

from tests.support.clients import AppClient
from tests.support.fixtures import (
    app_test_settings,
    broker_app_client,
    smtp_server,
    store_urls,
    webhook_receiver,
)
from tests.support.receivers import WebhookReceiver

from .factory import NotifyLoop

SECRET = "test-webhook-secret"


sqlite_url, database_url = store_urls("notify.db")


receiver = webhook_receiver(SECRET)
smtp = smtp_server()


def make_settings(**overrides: Any) -> NotifySettings:
    """Settings for a test app: fast batches, polling and retries."""
    defaults: dict[str, Any] = app_test_settings() | {
        "outbox_poll_s": 0.1,
        "send_poll_s": 0.05,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.4,
        "max_attempts": 4,
        "lease_s": 5.0,
        "smtp_timeout_s": 2.0,
        "smtp_security": "none",
        "stop_grace_s": 2.0,
        "webhook_signing_secret": SECRET,
    }
    return NotifySettings(**(defaults | overrides))


app_client = broker_app_client(
    make_settings=make_settings, create_app=create_app, base_url="http://notify"
)


@pytest.fixture
def loop(
    app_client: AppClient,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> NotifyLoop:
    """The notify app factory, the webhook receiver and the test broker, in one."""
    return NotifyLoop(app_client, receiver, raw_producer, kafka_bootstrap, topic_prefix)


async def notifications_of(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every notification matching the filters, through the API."""
    response = await client.get("/v1/notifications", params={"limit": 500, **params})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def settled(items: list[dict[str, Any]], n: int) -> bool:
    """True when n notifications all have their outcome."""
    return len(items) == n and all(i["outcome"] for i in items)
