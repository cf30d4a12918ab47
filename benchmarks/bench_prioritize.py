"""Benchmark of the prioritize stage: items/s from `enriched` into the store (SQLite, PostgreSQL)
and p99 latency from an `enriched` record to its `feedback.prioritized` record.

    python benchmarks/bench_prioritize.py [--items 10000] [--postgres-url URL]

Kafka: FEEDLOOP_BENCH_KAFKA (default 127.0.0.1:9092). PostgreSQL: --postgres-url, or the test
server of tests/support/postgres.py on 127.0.0.1:15432 when it runs; otherwise skipped.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import importlib.util  # noqa: E402

import asyncpg  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from feedloop.common import topics  # noqa: E402
from feedloop.common.events import deterministic_id  # noqa: E402
from feedloop.common.kafka import ensure_topics  # noqa: E402
from feedloop.common.settings import ServiceSettings  # noqa: E402
from feedloop.prioritize.app import create_app  # noqa: E402
from feedloop.prioritize.settings import PrioritizeSettings  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.support.kafka import read_topic  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "prioritize_factory", ROOT / "services" / "prioritize" / "tests" / "factory.py"
)
assert _spec and _spec.loader
_factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_factory)
enriched, record = _factory.enriched, _factory.record

THEMES = [f"theme-{i}" for i in range(12)]


def build(n: int, prefix: str, tag: str) -> list:  # type: ignore[type-arg]
    """Enriched records: 12 themes, 3 clusters each, 3000 customers, mixed sentiment."""
    out = []
    for i in range(n):
        theme = THEMES[i % len(THEMES)]
        negative = i % 4 != 0
        item = enriched(
            f"{tag}-{i}",
            customer=f"c-{i % 3000}",
            theme=theme,
            cluster=f"{theme}-{i % 3}",
            label="negative" if negative else "positive",
            score=-0.7 if negative else 0.8,
            noise=0.2,
        )
        out.append(record(item, prefix=prefix))
    return out


async def produce(bootstrap: str, records: list, rate: float | None = None) -> None:  # type: ignore[type-arg]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        started = time.perf_counter()
        for i, r in enumerate(records):
            futures.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
            if rate and i % 10 == 0:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run(database_url: str, label: str, bootstrap: str, items: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    base = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    await ensure_topics(base, partitions=6)
    print(f"[{label}] building {items} records ...", flush=True)
    await produce(bootstrap, build(items, prefix, "t"))
    settings = PrioritizeSettings(
        environment="test",
        log_json=False,
        log_level="WARNING",
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=prefix,
        database_url=database_url,
        batch_max_records=1000,
        batch_timeout_ms=50,
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        engine = app.state.engine
        started = time.perf_counter()
        stored = 0
        while stored < items:
            await asyncio.sleep(0.1)
            async with engine.connect() as conn:
                stored = int(await conn.scalar(text("SELECT count(*) FROM feedback")) or 0)
        elapsed = time.perf_counter() - started
        print(
            f"[{label}] throughput: {items} items in {elapsed:.1f} s "
            f"= {items / elapsed:,.0f} items/s"
        )
        # Latency at a steady, sustainable rate: enriched CreateTime -> prioritized CreateTime.
        lat_items, rate = 1500, 300.0
        latency_records = build(lat_items, prefix, "l")
        await produce(bootstrap, latency_records, rate=rate)
        complaints = sum(1 for r in latency_records if b'"negative"' in r.value[:2000])
        out = await read_topic(
            bootstrap,
            prefix + topics.PRIORITIZED,
            until=lambda rs: sum(b'"l-' in r.value for r in rs) >= complaints,
            timeout_s=60,
        )
    sent = {}
    for r in await read_topic(bootstrap, prefix + topics.ENRICHED, timeout_s=60):
        sent[r.headers[0][1]] = r.timestamp
    latencies = []
    for r in out:
        body = orjson.loads(r.value)
        if body["event_type"] != "feedback.prioritized":
            continue
        fid = body["payload"]["feedback"]["feedback_id"]
        key = deterministic_id("feedback.enriched", fid).encode()
        if key in sent and body["payload"]["feedback"]["external_id"].startswith("l-"):
            latencies.append(r.timestamp - sent[key])
    latencies.sort()
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(
            f"[{label}] latency enriched -> prioritized at {rate:.0f} items/s: "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(latencies)} events)"
        )


async def postgres_database(url: str | None) -> str | None:
    server = url or "postgresql://postgres@127.0.0.1:15432"
    name = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(server + "/postgres")
    except OSError:
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.replace("postgresql://", "postgresql+asyncpg://") + "/" + name


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--postgres-url", default=os.environ.get("FEEDLOOP_BENCH_POSTGRES_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    bootstrap = os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite+aiosqlite:///{tmp}/bench.db", "sqlite", bootstrap, args.items)
    if args.only != "sqlite":
        url = await postgres_database(args.postgres_url)
        if url is None:
            print("[postgres] skipped: no server (start one or pass --postgres-url)")
        else:
            await run(url, "postgres", bootstrap, args.items)


if __name__ == "__main__":
    asyncio.run(main())
