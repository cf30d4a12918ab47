"""Broker down: 503 with Retry-After in bounded time, never a 202; recovery by itself after."""

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedloop.common import topics
from feedloop.common.codec import header

from tests.support.kafka import read_topic

from .conftest import AppFactory, survey

ROOT = Path(__file__).resolve().parents[3]
PORT = os.environ.get("FEEDLOOP_TEST_OUTAGE_KAFKA_PORT", "29092")  # its own broker


def broker(action: str) -> None:
    env = os.environ | {"KAFKA_PORT": PORT, "KAFKA_PARTITIONS": "3"}
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), action], check=True, env=env)


@pytest.fixture
def own_broker() -> Iterator[str]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    broker("up")
    yield f"127.0.0.1:{PORT}"
    broker("down")


async def test_broker_down_gives_503_then_202_after_restart_and_nothing_is_lost(
    make_client: AppFactory, own_broker: str
) -> None:
    accepted: set[str] = set()
    async with make_client(
        bootstrap=own_broker, kafka_topic_prefix="", produce_timeout_s=2.0
    ) as client:
        for i in range(20):
            response = await client.post("/v1/feedback", json=survey(f"o-{i}"))
            assert response.status_code == 202
            accepted.add(response.json()["feedback_id"])
        broker("kill9")
        started = time.monotonic()
        during = [await client.post("/v1/feedback", json=survey(f"d-{i}")) for i in range(3)]
        elapsed = time.monotonic() - started
        assert [r.status_code for r in during] == [503, 503, 503]
        assert elapsed < 3 * 2.0 + 3, f"503s took {elapsed:.1f}s"
        assert during[0].headers["Retry-After"] == "5"
        assert during[0].headers["content-type"] == "application/problem+json"
        broker("up")
        recovered = None
        for _ in range(60):
            retry = await client.post("/v1/feedback", json=survey("d-0"))
            if retry.status_code in (200, 202):
                recovered = retry
                break
            await asyncio.sleep(0.5)
        assert recovered is not None, "ingest did not recover after the broker returned"
        accepted.add(recovered.json()["feedback_id"])
        for i in range(20, 30):
            response = await client.post("/v1/feedback", json=survey(f"o-{i}"))
            assert response.status_code == 202
            accepted.add(response.json()["feedback_id"])
    records = await read_topic(own_broker, topics.RAW_FEEDBACK, idle_s=2.0)
    ids = {header(r.headers, topics.HEADER_ID) for r in records}
    assert accepted <= ids, "a 202 was lost"
