"""A sender that dies between sending and recording skips no customer, and doubles only what
the idempotency key lets the receiver drop."""

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from feedloop.notify.intake.owed import delivery_id

from tests.support.clients import AppClient, send_all
from tests.support.keys import TEST_API_KEY, api_keys_json
from tests.support.polling import eventually
from tests.support.receivers import WebhookReceiver, free_port

from .conftest import SECRET, notifications_of
from .factory import closed_events, issue, linked, records

ROOT = Path(__file__).resolve().parents[3]
CUSTOMERS = 30


def story() -> list[Any]:
    """One feedback item from each of CUSTOMERS customers on one issue, then its resolution."""
    links = [linked(f"f{n}", "i1", f"c{n}") for n in range(CUSTOMERS)]
    return [*links, issue("i1", 1, "resolved", message="Fixed.")]


def assert_each_customer_got_it_under_one_key(receiver: WebhookReceiver, in_flight: int) -> None:
    """Every customer's key reached the receiver; repeats only of keys sent before the crash."""
    expected = {delivery_id(f"c{n}", "i1", "resolution", 1) for n in range(CUSTOMERS)}
    hits = receiver.delivered()
    assert {h.key for h in hits} == expected
    assert all(h.verified for h in hits)
    repeats = len(hits) - len(expected)
    assert 1 <= repeats <= in_flight, "the crash caught messages in flight; only they repeat"
    assert {h.body["customer_id"] for h in hits} == {f"c{n}" for n in range(CUSTOMERS)}


async def test_an_app_stopped_abruptly_mid_send_resends_the_unrecorded_under_the_same_keys(
    app_client: AppClient,
    database_url: str,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    # Each answer takes 2 s, so whenever the app is stopped (other lifespan steps stop first,
    # for a varying time) a wave of sends is in flight: with 0.3 s the stop could fall
    # between two waves on a quiet machine and nothing would repeat.
    receiver.delay_s = 2.0
    options: dict[str, Any] = {
        "source_systems": {"shop": {"callback_url": receiver.url("shop"), "timeout_s": 3.0}},
        "send_concurrency": 5,
        "lease_s": 4.0,
        "smtp_timeout_s": 1.0,
        # No grace: in-flight attempts are abandoned unrecorded, as in a crash.
        "stop_grace_s": 0.0,
    }
    async with app_client(database_url, **options):
        await send_all(raw_producer, records(story(), topic_prefix))
        await eventually(lambda: _hits_at_least(receiver, 8))
    interrupted = len(receiver.hits)
    assert interrupted < CUSTOMERS
    receiver.delay_s = 0.0
    async with app_client(database_url, **options) as client:

        async def all_closed() -> bool:
            items = await notifications_of(client, kind="resolution")
            return len(items) == CUSTOMERS and all(i["outcome"] == "delivered" for i in items)

        await eventually(all_closed, timeout_s=60)
        closed = await closed_events(kafka_bootstrap, topic_prefix, expect=CUSTOMERS)
    assert_each_customer_got_it_under_one_key(receiver, in_flight=5)
    assert sorted(c.feedback_id for _, c in closed) == sorted(f"f{n}" for n in range(CUSTOMERS))


async def _hits_at_least(receiver: WebhookReceiver, n: int) -> bool:
    return len(receiver.hits) >= n


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "feedloop-notify")],
        env=os.environ | env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url + "/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def service_env(
    tmp_path: Path, receiver: WebhookReceiver, kafka_bootstrap: str, topic_prefix: str, port: int
) -> dict[str, str]:
    """The environment of a notify process on the test broker, its shop webhook at `receiver`,
    with short leases, back-offs and polls (five sends in flight)."""
    p = "FEEDLOOP_NOTIFY_"
    return {
        p + "ENVIRONMENT": "test",
        p + "API_KEYS": api_keys_json(),
        p + "METRICS_PORT": str(free_port()),
        p + "PORT": str(port),
        p + "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        p + "KAFKA_TOPIC_PREFIX": topic_prefix,
        p + "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/notify.db",
        p + "SOURCE_SYSTEMS": orjson.dumps(
            {"shop": {"callback_url": receiver.url("shop"), "timeout_s": 1.0}}
        ).decode(),
        p + "WEBHOOK_SIGNING_SECRET": SECRET,
        p + "SEND_CONCURRENCY": "5",
        p + "LEASE_S": "2",
        p + "SMTP_TIMEOUT_S": "1",
        p + "BACKOFF_BASE_S": "0.05",
        p + "BACKOFF_MAX_S": "0.5",
        p + "SEND_POLL_S": "0.05",
        p + "BATCH_TIMEOUT_MS": "50",
        p + "SESSION_TIMEOUT_MS": "6000",
        p + "OUTBOX_POLL_S": "0.1",
    }


async def wait_all_delivered(url: str) -> None:
    """Waits until the service at `url` lists every customer's resolution as delivered."""
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": TEST_API_KEY}) as api:

        async def all_delivered() -> bool:
            items = await notifications_of(api, kind="resolution")
            return len(items) == CUSTOMERS and all(i["outcome"] == "delivered" for i in items)

        await eventually(all_delivered, timeout_s=60, every_s=0.2)


def assert_each_item_closed_once(closed: list[tuple[str, Any]]) -> None:
    """Every item has a closed event, under one event id."""
    by_feedback: dict[str, set[str]] = {}
    for event_id, event in closed:
        by_feedback.setdefault(event.feedback_id, set()).add(event_id)
    assert sorted(by_feedback) == sorted(f"f{n}" for n in range(CUSTOMERS))
    assert all(len(ids) == 1 for ids in by_feedback.values()), "one closed event id per item"


async def test_killing_the_service_mid_send_skips_no_customer_and_doubles_none_beyond_the_key(
    tmp_path: Path,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(tmp_path, receiver, kafka_bootstrap, topic_prefix, port)
    receiver.delay_s = 0.3
    log = tmp_path / "notify.log"
    process = _start(env, log)
    try:
        await eventually(lambda: _ready(url), timeout_s=60, every_s=0.2)
        await send_all(raw_producer, records(story(), topic_prefix))
        await eventually(lambda: _hits_at_least(receiver, 8), timeout_s=60)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
        assert len(receiver.hits) < CUSTOMERS, "killed before it was done"
        receiver.delay_s = 0.0
        process = _start(env, log)
        await eventually(lambda: _ready(url), timeout_s=60, every_s=0.2)
        await wait_all_delivered(url)
        closed = await closed_events(kafka_bootstrap, topic_prefix, expect=CUSTOMERS)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
    assert_each_customer_got_it_under_one_key(receiver, in_flight=5)
    assert_each_item_closed_once(closed)
