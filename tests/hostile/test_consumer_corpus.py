"""The hostile corpus, consumer side: records a foreign producer writes straight to
`raw-feedback`, `enriched` and `prioritized` (bad JSON, a list schema_version, NUL, 1e308, huge
and deep metadata, regex bombs, zstd and lz4 batches) each end processed downstream or on their
topic's DLQ with a reason; no partition stalls and every good record arrives. Enrich, prioritize
and notify run in-process on the real test broker, on SQLite and on PostgreSQL."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from feedloop.cli.lag import STAGES, measure_lag
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.settings import ServiceSettings
from feedloop.enrich.app import create_app as enrich_app
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings
from feedloop.notify.app import create_app as notify_app
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize.app import create_app as prioritize_app
from feedloop.prioritize.settings import PrioritizeSettings

from tests.hostile.consumer_corpus import (
    Case,
    enriched_cases,
    prioritized_cases,
    raw_feedback_cases,
    resolution,
)
from tests.support.kafka import Record, read_topic
from tests.support.keys import api_keys_json

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
# Where a processed record shows up: the topic its stage writes, and how to read the id there.
DOWNSTREAM = {
    topics.RAW_FEEDBACK: topics.ENRICHED,
    topics.ENRICHED: topics.PRIORITIZED,
    topics.PRIORITIZED: topics.CLOSED,
}


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    """The models, loaded once."""
    return Enricher(EnrichSettings(environment="test", consume=False, log_json=False))


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A database for prioritize and one for notify, both SQLite or both PostgreSQL."""
    if request.param == "sqlite":
        return (f"sqlite+aiosqlite:///{tmp_path}/p.db", f"sqlite+aiosqlite:///{tmp_path}/n.db")
    server: str = request.getfixturevalue("postgres_server")
    names = [f"h_{uuid.uuid4().hex[:12]}" for _ in range(2)]

    async def create() -> None:
        conn = await asyncpg.connect(
            server.replace("postgresql+asyncpg", "postgresql") + "/postgres"
        )
        try:
            for name in names:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return (f"{server}/{names[0]}", f"{server}/{names[1]}")


def common(bootstrap: str, prefix: str, run: str) -> dict[str, Any]:
    """Settings every stage of the test shares: its topics, its own groups, fast batches."""
    return {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_json": False,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic_prefix": prefix,
        "kafka_client_id": f"hostile-{run}",
        "batch_timeout_ms": 50,
        "session_timeout_ms": 6000,
    }


@contextlib.asynccontextmanager
async def pipeline(
    enricher: Enricher, bootstrap: str, prefix: str, run: str, dbs: tuple[str, str]
) -> AsyncIterator[dict[str, str]]:
    """Enrich, prioritize and notify running; yields the consumer group of each stage."""
    groups = {s: f"hostile-{s}-{run}" for s in ("enrich", "prioritize", "notify")}
    base = common(bootstrap, prefix, run)
    apps = [
        enrich_app(EnrichSettings(**base, consumer_group=groups["enrich"]), enricher=enricher),
        prioritize_app(
            PrioritizeSettings(
                **base,
                database_url=dbs[0],
                consumer_group=groups["prioritize"],
                closed_consumer_group=f"hostile-closed-{run}",
                outbox_poll_s=0.1,
            )
        ),
        notify_app(
            NotifySettings(
                **base,
                database_url=dbs[1],
                consumer_group=groups["notify"],
                outbox_poll_s=0.1,
                send_poll_s=0.05,
                webhook_signing_secret="hostile-corpus-secret-0123456789abcdef",
            )
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(
                LifespanManager(app, startup_timeout=120, shutdown_timeout=60)
            )
        yield groups


async def write(bootstrap: str, prefix: str, cases: Sequence[Case]) -> None:
    """Writes every case to partition 0 of its topic, in order, as a foreign producer would
    (plain, or compressing its batch with the case's codec)."""
    producers: dict[str | None, AIOKafkaProducer] = {}
    try:
        for case in cases:
            codec = case.compression
            if codec not in producers:
                producers[codec] = AIOKafkaProducer(
                    bootstrap_servers=bootstrap,
                    compression_type=codec,
                    max_request_size=2 * 1024 * 1024,
                )
                await producers[codec].start()
            await producers[codec].send_and_wait(
                prefix + case.topic, case.value, key=case.key, partition=0
            )
    finally:
        for producer in producers.values():
            await producer.stop()


def processed_ids(records: list[Record]) -> set[str]:
    """The feedback ids that reached a stage's output topic."""
    ids: set[str | None] = set()
    for r in records:
        # Output topics carry the corpus's own hostile records too (they are the next input).
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            payload = orjson.loads(r.value or b"{}").get("payload", {})
            ids.add(payload.get("feedback_id") or payload.get("feedback", {}).get("feedback_id"))
    return ids - {None}


async def drained(bootstrap: str, prefix: str, groups: dict[str, str]) -> list[Any]:
    """Lag per stage for the test's groups, once every stage has read its input to the end."""
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    stages = tuple(s.__class__(s.name, groups[s.name], s.topic) for s in STAGES if s.name in groups)
    lags: list[Any] = []
    for _ in range(300):
        lags = await measure_lag(settings=settings, stages=stages)
        if all(s.lag == 0 for s in lags):
            break
        await asyncio.sleep(0.2)
    return lags


async def test_every_hostile_record_ends_processed_or_dead_lettered_and_nothing_stalls(
    enricher: Enricher,
    databases: tuple[str, str],
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    run = uuid.uuid4().hex[:8]
    issue_id = f"issue-{run}"
    cases = raw_feedback_cases(run) + enriched_cases(run) + prioritized_cases(run, issue_id)
    async with pipeline(enricher, kafka_bootstrap, topic_prefix, run, databases) as groups:
        await write(kafka_bootstrap, topic_prefix, cases)
        lags = await drained(kafka_bootstrap, topic_prefix, groups)
        # The issue is resolved only now: every customer linked to it is then closed.
        close = resolution(issue_id)
        await write_record(
            kafka_bootstrap, topic_prefix + topics.PRIORITIZED, close.key, close.value
        )
        good_closed = {c.feedback_id for c in cases if c.good and c.topic == topics.PRIORITIZED}
        closed = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.CLOSED,
            until=lambda rs: processed_ids(rs) >= good_closed,
            timeout_s=60,
        )
        lags += await drained(kafka_bootstrap, topic_prefix, groups)
    outputs = {
        topics.RAW_FEEDBACK: await read_topic(kafka_bootstrap, topic_prefix + topics.ENRICHED),
        topics.ENRICHED: await read_topic(kafka_bootstrap, topic_prefix + topics.PRIORITIZED),
        topics.PRIORITIZED: closed,
    }
    dead = {
        topic: await read_topic(kafka_bootstrap, topic_prefix + topics.dlq_topic(topic))
        for topic in DOWNSTREAM
    }
    assert not [(s.stage, s.lag) for s in lags if s.lag], "a partition stalled"
    assert_outcomes(cases, outputs, dead)


def assert_outcomes(
    cases: Sequence[Case], outputs: dict[str, list[Record]], dead: dict[str, list[Record]]
) -> None:
    """Each case processed (its id downstream) or dead-lettered with a reason; goods processed."""
    problems = []
    for case in cases:
        done = case.feedback_id is not None and case.feedback_id in processed_ids(
            outputs[case.topic]
        )
        letters = [d for d in dead[case.topic] if d.key == case.key]
        reasons = [header(d.headers, topics.HEADER_DLQ_REASON) for d in letters]
        if case.good and (not done or letters):
            problems.append(f"{case.name}: good record not processed ({reasons})")
        elif done == bool(letters) or not all(reasons):
            problems.append(f"{case.name}: processed={done}, dead letters={reasons}")
    assert not problems, "\n".join(problems)


async def write_record(bootstrap: str, topic: str, key: bytes | None, value: bytes) -> None:
    """Writes one record to partition 0, after the corpus."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()
