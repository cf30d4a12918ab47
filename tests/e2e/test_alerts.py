"""A spike from prioritize to a team's Slack-compatible webhook, end to end on the test broker:
prioritize's alert pass finds it in its rollup and emits it once (outbox, relay, `alerts`),
notify reads it and posts it once, and neither a later pass nor a restart of prioritize posts
it again."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from feedloop.notify.app import create_app as create_notify
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize.app import create_app as create_prioritize
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import theme_day_t
from feedloop.prioritize.settings import PrioritizeSettings

from tests.support.clients import app_client as start_app
from tests.support.fixtures import app_test_settings, webhook_receiver
from tests.support.polling import eventually
from tests.support.receivers import WebhookReceiver
from tests.support.seeding import seed_store

pytestmark = [pytest.mark.kafka]
receiver = webhook_receiver("e2e-alerts")


async def _seed_spike(url: str) -> None:
    """sizing: 1 item a day for four weeks, then 12 today."""
    today = datetime.now(UTC).date()
    rows = [
        {
            "theme": "sizing",
            "day": (today - timedelta(days=back)).isoformat(),
            "total": 12 if back == 0 else 1,
            "complaints": 0,
        }
        for back in range(29)
    ]
    await seed_store(url, upgrade, [(theme_day_t, rows)])


def _broker(bootstrap: str, prefix: str, url: str) -> dict[str, Any]:
    return app_test_settings() | {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic_prefix": prefix,
        "database_url": url,
        "outbox_poll_s": 0.1,
    }


async def test_a_spike_reaches_the_teams_webhook_once(
    kafka_bootstrap: str, topic_prefix: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    prioritize_db = f"sqlite+aiosqlite:///{tmp_path}/prioritize.db"
    await _seed_spike(prioritize_db)
    notify = NotifySettings(
        **_broker(kafka_bootstrap, topic_prefix, f"sqlite+aiosqlite:///{tmp_path}/notify.db"),
        alert_poll_s=0.1,
    )
    prioritize = PrioritizeSettings(
        **_broker(kafka_bootstrap, topic_prefix, prioritize_db), kpi_alert_check_s=0.3
    )
    hook = receiver.url("team-channel")
    async with start_app(create_notify(notify), base_url="http://notify") as n:
        created = await n.post(
            "/v1/alerts/subscriptions",
            json={"name": "sizing team", "channel": "webhook", "target": hook, "kinds": ["spike"]},
        )
        assert created.status_code == 201, created.text
        for _ in range(2):  # prioritize started twice: a restart re-runs its passes
            async with start_app(create_prioritize(prioritize), base_url="http://prioritize"):
                await eventually(receiver.delivered, timeout_s=60, what="the spike posted")
                await asyncio.sleep(1.5)  # five more alert passes: none may post it again
        hits = receiver.delivered()
        assert len(hits) == 1, [h.body for h in hits]
        assert hits[0].body["text"].startswith("*Spike: sizing had 12 items on ")
        deliveries = (await n.get("/v1/alerts/deliveries")).json()
        assert [(d["alert_key"], d["status"]) for d in deliveries] == [
            (f"spike:sizing:{datetime.now(UTC).date()}", "delivered")
        ]
