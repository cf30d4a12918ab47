"""The broker dies under POST load: 503s while it is down, never a 202 that is later lost.

Runs on a broker of its own (its own port and data), so killing it disturbs no other test.
"""

import asyncio
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings

from tests.e2e.platform import ROOT, Platform
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PORT = os.environ.get("FEEDLOOP_TEST_KAFKA_RESTART_PORT", "29192")
API_KEY = TEST_API_KEY  # the development key works in local mode only
WORKERS, PER_WORKER = 4, 30


def broker(action: str) -> None:
    """scripts/kafka.sh for this test's broker."""
    env = os.environ | {"KAFKA_PORT": PORT, "KAFKA_PARTITIONS": "3", "KAFKA_HEAP": "384m"}
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), action], check=True, env=env)


@pytest.fixture
async def own_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """A live ingest on a broker of this test's own."""
    await asyncio.to_thread(broker, "up")
    bootstrap = f"127.0.0.1:{PORT}"
    prefix = f"br{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix), partitions=3
    )
    platform = Platform(
        bootstrap=bootstrap,
        prefix=prefix,
        workdir=tmp_path,
        extra_env={
            "ingest": {
                "FEEDLOOP_INGEST_PRODUCE_TIMEOUT_S": "2",
                "FEEDLOOP_INGEST_RETRY_AFTER_S": "1",
            }
        },
    )
    try:
        async with platform.running("ingest"):
            yield platform
    finally:
        await asyncio.to_thread(broker, "down")


async def wait_or_fail(
    event: asyncio.Event, load: "asyncio.Future[Any]", timeout_s: float, what: str
) -> None:
    """Waits for an event, failing fast (with the load's own error) if the load ends first."""
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait(
        {waiter, load}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    if load in done:
        load.result()  # re-raises a worker's failure
    assert event.is_set(), f"{what}: not within {timeout_s:.0f}s"


def item(run: str, worker: int, n: int) -> dict[str, Any]:
    """One chat message of the load."""
    return {
        "channel": "chat",
        "conversation_id": f"chat-{run}-{worker}-{n}",
        "source_system": "shop",
        "external_id": f"{run}-{worker}-{n}",
        "customer": {"id": f"{run}-c{worker}-{n}"},
        "text": "The hoodie runs small, can I exchange it?",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


async def test_broker_killed_under_post_load_gives_503s_and_every_202_is_on_raw_feedback(
    own_platform: Platform,
) -> None:
    run = uuid.uuid4().hex[:6]
    ingest = own_platform.processes["ingest"]
    statuses: Counter[int] = Counter()
    accepted: dict[str, int] = {}  # feedback id -> status (202 accepted, 200 known)
    down = asyncio.Event()
    warmed_up = asyncio.Event()
    outage_seen = asyncio.Event()
    after_outage: Counter[int] = Counter()

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 120
        for n in range(PER_WORKER):
            while True:
                assert time.monotonic() < deadline, f"worker {w} stuck\n{own_platform.tails()}"
                response = await client.post("/v1/feedback", json=item(run, w, n))
                statuses[response.status_code] += 1
                if statuses[503] >= 3:
                    outage_seen.set()
                if down.is_set() and response.status_code != 503:
                    after_outage[response.status_code] += 1
                if response.status_code in (200, 202):
                    accepted[response.json()["feedback_id"]] = response.status_code
                    if len(accepted) >= 20:
                        warmed_up.set()
                    break
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "1"
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(
        base_url=ingest.url, headers={"X-API-Key": API_KEY}, timeout=15
    ) as client:
        load = asyncio.gather(*(worker(w, client) for w in range(WORKERS)))
        try:
            await wait_or_fail(warmed_up, load, 30, "20 items accepted before the outage")
            await asyncio.to_thread(broker, "kill9")
            down.set()
            await wait_or_fail(outage_seen, load, 30, "three 503s while the broker is down")
            await asyncio.sleep(2)
            await asyncio.to_thread(broker, "up")
            await asyncio.wait_for(load, 150)
        finally:
            load.cancel()

    assert statuses[503] >= 3, f"no 503s while the broker was down: {statuses}"
    assert after_outage[202] > 0, "the producer never recovered"
    assert len(accepted) == WORKERS * PER_WORKER
    records = await read_topic(
        own_platform.bootstrap, own_platform.topic(topics.RAW_FEEDBACK), idle_s=2.0
    )
    on_topic = Counter(header(r.headers, topics.HEADER_ID) for r in records)
    ids = {orjson.loads(r.value)["payload"]["feedback_id"] for r in records}
    lost = set(accepted) - ids
    assert not lost, f"{len(lost)} accepted feedback ids are not on raw-feedback"
    # A 503'd attempt the broker did write before the timeout is written again by the retry,
    # under the same deterministic event id: allowed by design, enrich drops the repeat.
    twice = sum(n > 1 for n in on_topic.values())
    print(f"statuses {dict(statuses)}; event ids written twice: {twice}")
