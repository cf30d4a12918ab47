"""Solicit test fixtures: the app on SQLite, real SMTP and webhook receivers, test programs."""

import base64
from pathlib import Path
from typing import Any

import orjson
import yaml
from feedloop.solicit.programs import ProgramsConfig
from feedloop.solicit.settings import SolicitSettings

from tests.support.fixtures import smtp_server, store_urls, webhook_receiver
from tests.support.keys import api_keys_json

SECRET = "solicit-test-webhook-secret"
LINK_KEYS = orjson.dumps({"t1": base64.b64encode(b"k" * 32).decode()}).decode()
SCOPES = ("touchpoints:write", "surveys:read", "customers:erase")

PROGRAMS: dict[str, Any] = {
    "fatigue_days": 30,
    "default_time_zone": "UTC",
    "programs": [
        {
            "id": "post-delivery-nps",
            "trigger": "order.delivered",
            "survey": {"metric": "nps"},
            "window_s": 7 * 86400,
            "channel": "email",
            "reminder_after_s": 1,
        },
        {
            "id": "ticket-csat",
            "trigger": "ticket.solved",
            "survey": {"metric": "csat", "scale_max": 5},
            "channel": "email",
        },
        {
            "id": "return-ces",
            "trigger": "return.completed",
            "survey": {"metric": "ces", "scale_max": 7},
            "channel": "webhook",
        },
    ],
}


def programs_file(tmp_path: Path, config: dict[str, Any] | None = None) -> str:
    """Writes programs as YAML; returns the path."""
    path = tmp_path / "programs.yaml"
    path.write_text(yaml.safe_dump(config or PROGRAMS))
    ProgramsConfig.model_validate(config or PROGRAMS)
    return str(path)


def make_settings(tmp_path: Path, **overrides: Any) -> SolicitSettings:
    """Settings for an in-process test app: fast polling, short leases."""
    defaults: dict[str, Any] = {
        "environment": "test",
        "api_keys": api_keys_json(*SCOPES),
        "link_keys": LINK_KEYS,
        "metrics_port": 0,
        "log_json": False,
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/solicit.db",
        "programs_file": programs_file(tmp_path),
        "outbox_poll_s": 0.1,
        "send_poll_s": 0.05,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.4,
        "lease_s": 5.0,
        "smtp_timeout_s": 2.0,
        "webhook_timeout_s": 2.0,
        "smtp_security": "none",
        "smtp_host": "127.0.0.1",
        "webhook_signing_secret": SECRET,
        "answer_settle_s": 0,
        "batch_timeout_ms": 50,
        "session_timeout_ms": 6000,
        # Groups per test run, as topics are: runs sharing the broker never rebalance each other.
        "consumer_group": str(overrides.get("kafka_topic_prefix", "")) + "feedloop-solicit",
    }
    return SolicitSettings(**(defaults | overrides))


def broker_settings(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, **overrides: Any
) -> SolicitSettings:
    """make_settings on the test broker under the test's topic prefix."""
    return make_settings(
        tmp_path, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix,
        **overrides,
    )  # fmt: skip


receiver = webhook_receiver(SECRET)
smtp = smtp_server()

sqlite_url, database_url = store_urls("solicit.db")
