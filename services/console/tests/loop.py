"""The loop the console shows: real prioritize, notify and solicit apps on the test broker,
seeded.

Everything runs on loopback: the apps under uvicorn in threads (tests/support/browser.py),
SQLite files in a temporary folder, topics of a fresh prefix on the shared test broker, and a
webhook sink that answers 200 to notify's deliveries.
"""

import asyncio
import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from aiokafka import AIOKafkaProducer
from feedloop.common.codec import encode
from feedloop.common.events import Envelope, FeedbackEnriched, deterministic_id
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings
from feedloop.console.app import create_app as create_console
from feedloop.console.settings import ConsoleSettings
from feedloop.notify.app import create_app as create_notify
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize.app import create_app as create_prioritize
from feedloop.prioritize.settings import PrioritizeSettings
from starlette.types import Receive, Scope, Send

from services.console.tests.surveys_seed import answered_surveys, solicit_app
from tests.e2e.enriched import enrichment
from tests.support.browser import serve_in_thread
from tests.support.kafka import delete_prefixed_topics
from tests.support.keys import TEST_API_KEY, api_keys_json

T = TypeVar("T")
DIM = 384
SIZING = "sizing_fit"
SIZING_CUSTOMERS = 9
WEBHOOK_SECRET = "console-test-webhook-secret"


@dataclass
class Sink:
    """A webhook receiver that answers 200 and counts the calls (an ASGI app)."""

    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        with self.lock:
            self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _vector(name: str, seed: int) -> list[float]:
    base = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    vector = base.standard_normal(DIM) + 0.05 * np.random.default_rng(seed).standard_normal(DIM)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def feedback(
    n: int,
    *,
    run: str,
    theme: str,
    customer: str,
    text: str,
    negative: bool = True,
    nps: int | None = None,
    at: datetime | None = None,
) -> FeedbackEnriched:
    """A feedback.enriched event: a survey answer when nps is given, else a support ticket."""
    at = at or datetime.now(UTC) - timedelta(hours=(n * 13) % 140)
    sentiment = (
        {"label": "negative", "score": -0.8, "confidence": 0.9}
        if negative
        else {"label": "positive", "score": 0.8, "confidence": 0.9}
    )
    item: dict[str, Any] = {
        "source_system": "shop",
        "external_id": f"{run}-{n}",
        "customer": {"id": customer, "tier": "standard", "segment": "b2c"},
        "text": text,
        "occurred_at": at.isoformat(),
    }
    if nps is not None:
        item |= {
            "channel": "survey",
            "answers": [
                {"metric": "nps", "score": nps},
                {"metric": "csat", "score": 2 if negative else 5},
                {"metric": "ces", "score": 2 if negative else 6},
            ],
        }
    else:
        item |= {"channel": "support_ticket", "ticket_id": f"T-{run}-{n}"}
    direction = theme if negative else f"{theme}-praise"
    return FeedbackEnriched.model_validate(
        {
            "feedback_id": deterministic_id("shop", f"{run}-{n}"),
            "received_at": at.isoformat(),
            "item": item,
            "enrichment": enrichment(theme, sentiment, _vector(direction, n)),
        }
    )


def story_before(run: str) -> list[FeedbackEnriched]:
    """The sizing pattern (many customers), two smaller complaints, some praise and NPS."""
    events = [
        feedback(
            i,
            run=run,
            theme=SIZING,
            customer=f"c-size-{i}",
            text=f"The jeans run two sizes small, I had to return them (order {i}).",
            nps=3 if i % 3 == 0 else None,
        )
        for i in range(SIZING_CUSTOMERS)
    ]
    events += [
        feedback(
            100 + i,
            run=run,
            theme="delivery_speed",
            customer=f"c-del-{i}",
            text="The parcel arrived a week late.",
            nps=6 if i == 0 else None,
        )
        for i in range(2)
    ]
    events.append(
        feedback(200, run=run, theme="checkout", customer="c-pay-1", text="Payment page froze.")
    )
    events += [
        feedback(
            300 + i,
            run=run,
            theme=SIZING,
            customer=f"c-happy-{i}",
            text="Lovely fabric and the fit is right.",
            negative=False,
            nps=10,
        )
        for i in range(3)
    ]
    return events


def story_after(run: str) -> list[FeedbackEnriched]:
    """After the fix: praise of the fit, no complaint."""
    return [
        feedback(
            400 + i,
            run=run,
            theme=SIZING,
            customer=f"c-after-{i}",
            text="The new size chart is spot on, the fit is perfect.",
            negative=False,
            nps=9,
            at=datetime.now(UTC),  # after the resolution, and not in the future
        )
        for i in range(10)
    ]


@dataclass
class Loop:
    """URLs of the running apps and a way to send more feedback."""

    console: str
    prioritize: str
    notify: str
    solicit: str
    sink: Sink
    send: Callable[[list[FeedbackEnriched]], None]
    run: str

    def api(self, base: str) -> httpx.AsyncClient:
        """An HTTP client for one of the APIs with the test key."""
        return httpx.AsyncClient(base_url=base, headers={"X-API-Key": TEST_API_KEY}, timeout=10)


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout_s: float = 60.0, what: str = ""
) -> Any:
    """Polls an async check until it returns something truthy; fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion on a loop of its own in another thread (callable from
    sync code whether or not the calling thread has a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _producer_send(bootstrap: str, prefix: str, events: list[FeedbackEnriched]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for event in events:
                envelope = Envelope.wrap(
                    event,
                    event_id=deterministic_id("feedback.enriched", event.feedback_id),
                    producer="enrich",
                    correlation_id=event.feedback_id,
                )
                record = encode(envelope, key=event.enrichment.primary_theme, prefix=prefix)
                await producer.send_and_wait(
                    record.topic, value=record.value, key=record.key, headers=record.headers
                )
        finally:
            await producer.stop()

    in_thread(go())


@contextlib.contextmanager
def running_loop(bootstrap: str, folder: Path) -> Iterator[Loop]:
    """Prioritize, notify, a webhook sink and the console, on a fresh topic prefix."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    in_thread(
        ensure_topics(
            ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix),
            partitions=3,
        )
    )
    try:
        with _apps(bootstrap, folder, prefix) as loop:
            yield loop
    finally:
        # After the apps stopped: a long-lived test broker must not collect our topics.
        in_thread(delete_prefixed_topics(bootstrap, prefix))


def _backend_settings(bootstrap: str, prefix: str) -> dict[str, Any]:
    """What the backends of the loop share: test mode and keys, the broker and its prefix,
    short batches, sessions and outbox polls."""
    return {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_json": False,
        "log_level": "WARNING",
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic_prefix": prefix,
        "batch_timeout_ms": 50,
        "session_timeout_ms": 6000,
        "outbox_poll_s": 0.1,
    }


@contextlib.contextmanager
def _apps(bootstrap: str, folder: Path, prefix: str) -> Iterator[Loop]:
    common = _backend_settings(bootstrap, prefix)
    prioritize = create_prioritize(
        PrioritizeSettings(
            **common,
            database_url=f"sqlite+aiosqlite:///{folder}/prioritize.db",
            # The story plays now; its baseline has no history to compare with.
            effort_by_theme={SIZING: 1.0},
        )
    )
    sink = Sink()
    with serve_in_thread(sink) as sink_url:
        notify = create_notify(
            NotifySettings(
                **common,
                database_url=f"sqlite+aiosqlite:///{folder}/notify.db",
                source_systems={"shop": {"callback_url": f"{sink_url}/webhooks/shop"}},
                webhook_signing_secret=WEBHOOK_SECRET,
                send_poll_s=0.05,
            )
        )
        solicit = solicit_app(folder, sink_url, WEBHOOK_SECRET, common)
        with (
            serve_in_thread(prioritize) as prioritize_url,
            serve_in_thread(notify) as notify_url,
            serve_in_thread(solicit) as solicit_url,
        ):
            in_thread(answered_surveys(solicit_url))
            console = create_console(
                ConsoleSettings(
                    environment="test",
                    metrics_port=0,
                    log_json=False,
                    prioritize_url=prioritize_url,
                    notify_url=notify_url,
                    solicit_url=solicit_url,
                    api_key=TEST_API_KEY,
                    overview_days=7,
                )
            )
            with serve_in_thread(console) as console_url:
                yield Loop(
                    console=console_url,
                    prioritize=prioritize_url,
                    notify=notify_url,
                    solicit=solicit_url,
                    sink=sink,
                    send=lambda events: _producer_send(bootstrap, prefix, events),
                    run=prefix.strip("."),
                )
