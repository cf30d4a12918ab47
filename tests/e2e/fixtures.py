"""Fixtures of the end-to-end and fault tests: a platform per test, records fed at a pace."""

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from feedloop.common.codec import OutgoingRecord

from tests.e2e.platform import ROOT, Platform


def stage_missing(stage: str) -> bool:
    """True while a stage has no runnable entry point yet (it is being built)."""
    return not (ROOT / "services" / stage / "src" / "feedloop" / stage / "__main__.py").exists()


def needs(*stages: str) -> pytest.MarkDecorator:
    """Skips a test, naming the stage it waits for, until every stage it needs exists."""
    missing = [s for s in stages if stage_missing(s)]
    return pytest.mark.skipif(
        bool(missing), reason=f"waiting for stage(s) {missing}: no __main__.py yet"
    )


@pytest.fixture
async def platform(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[Platform]:
    """A platform on the test broker under a fresh topic prefix; every process stopped after."""
    created = Platform(bootstrap=kafka_bootstrap, prefix=topic_prefix, workdir=tmp_path)
    async with created.running():
        yield created


async def send_paced(
    producer: AIOKafkaProducer, records: Sequence[OutgoingRecord], *, per_s: float
) -> None:
    """Produces records at about `per_s` a second and waits for every acknowledgement."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    futures = []
    for i, r in enumerate(records):
        futures.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
        if i % 10 == 9:
            await asyncio.sleep(max(0.0, started + (i + 1) / per_s - loop.time()))
    await asyncio.gather(*futures)


async def consumed(url: str, service: str, outcome: str = "processed") -> float:
    """Records a process consumed (its own /metrics, at its metrics_url), over every topic."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(url + "/metrics")).text
    pattern = re.compile(r"^feedloop_consumer_records_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)
    return sum(
        float(value)
        for labels, value in pattern.findall(text)
        if f'service="{service}"' in labels and f'outcome="{outcome}"' in labels
    )


def assert_clean_exit(platform: Platform, name: str, code: int | None) -> None:
    """The process left on SIGTERM by itself, after its lifespan shut everything down.

    uvicorn (>= 0.29) re-raises the signal it caught once shutdown is complete; each
    service's __main__ (feedloop.common.serving) turns that into exit 0. -SIGTERM would mean
    the signal killed it, None that it had to be killed.
    """
    assert code == 0, f"{name} exit code {code}\n{platform.tail(name)}"
    assert "Application shutdown complete" in platform.tail(name, 40), platform.tail(name)
