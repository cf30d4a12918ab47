"""Ingest throughput and latency beside Kafka's own ProducerPerformance on the same broker.

Runs ingest as a real uvicorn process on loopback, then measures in one run:
  1. the ceiling: ProducerPerformance, acks=all, idempotent, records of our mean event size;
  2. batch POSTs (1,000 items each, a few in flight): accepted items/s;
  3. single POSTs at a fixed 500 requests/s: p50/p99 latency and the rate achieved;
  4. single POSTs flat out (64 in flight): requests/s;
  5. a flood of single POSTs flat out, each with an Idempotency-Key of its own (~170 bytes), on a
     fresh process: its RSS before and at its peak (the idempotency store is bounded in bytes).
The load generator shares the machine's 2 cores with ingest and the broker, as a client would not;
read the ratios, not the absolute figures.
"""

import argparse
import asyncio
import base64
import contextlib
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from feedloop.common import topics
from feedloop.common.auth import DEV_API_KEY
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings
from feedloop.ingest.settings import IngestSettings

from benchmarks.common import ROOT, print_table, producer_performance, service
from benchmarks.vegeta import attack, write_targets

TEXTS = [
    "The jeans run small, I had to send them back for a bigger size.",
    "Delivery took nine days and nobody answered my emails about it.",
    "Great quality fabric, but the price went up again this month.",
    "Support fixed my refund in minutes, thank you!",
]


def item(run: str, n: int) -> dict[str, Any]:
    """A realistic survey item, about the size of real feedback."""
    return {
        "channel": "survey",
        "source_system": "bench",
        "external_id": f"{run}-{n}",
        "customer": {"id": f"c-{n % 5000}", "email": f"c{n}@example.com", "tier": "standard"},
        "text": TEXTS[n % len(TEXTS)],
        "locale": "en-GB",
        "occurred_at": datetime.now(UTC).isoformat(),
        "answers": [{"metric": "nps", "score": n % 11}, {"metric": "csat", "score": 1 + n % 5}],
    }


def flood_targets(path: Path, url: str, run: str, n: int, headers: dict[str, str]) -> None:
    """vegeta targets: single POSTs, each new item with an Idempotency-Key of its own."""
    with path.open("wb") as out:
        for i in range(n):
            key = f"{run}-{i:07d}-" + "k" * 150
            target = {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(orjson.dumps(item(run, i))).decode(),
                "header": {k: [v] for k, v in headers.items()} | {"Idempotency-Key": [key]},
            }
            out.write(orjson.dumps(target) + b"\n")


def rss(pid: int) -> int:
    """Resident bytes of a process and its children."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """Samples a process's RSS every 20 ms while the block runs: start, peak, end."""
    box = {"start": rss(pid), "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            box["peak"] = max(box["peak"], rss(pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield box
    finally:
        stop.set()
        sampler.join()
        box["end"] = rss(pid)
        box["peak"] = max(box["peak"], box["end"])


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = ServiceSettings(kafka_bootstrap_servers=args.bootstrap, kafka_topic_prefix=prefix)
    await ensure_topics(settings, partitions=6)
    sample = orjson.dumps(
        {"payload": {"item": item("size", 1)}, "event_id": "x" * 36, "envelope": "y" * 200}
    )
    record_size = len(sample)
    await ensure_topics(settings, [topics.RAW_FEEDBACK, "ceiling"], partitions=6)
    ceiling = producer_performance(
        prefix + "ceiling", records=args.records, record_size=record_size, bootstrap=args.bootstrap
    )
    port = 18001
    env = {
        "FEEDLOOP_INGEST_PORT": str(port),
        "FEEDLOOP_INGEST_METRICS_PORT": "0",
        "FEEDLOOP_INGEST_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        "FEEDLOOP_INGEST_KAFKA_TOPIC_PREFIX": prefix,
        "FEEDLOOP_INGEST_LOG_LEVEL": "WARNING",
        "FEEDLOOP_INGEST_IDEMPOTENCY_WARMUP_HOURS": "0",
    }
    run = uuid.uuid4().hex[:8]
    url = f"http://127.0.0.1:{port}/v1/feedback"
    headers = {"Content-Type": "application/json", "X-API-Key": DEV_API_KEY}
    work = ROOT / ".local" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    batches = args.records // 1000
    write_targets(
        work / "batch.jsonl",
        url + "/batch",
        (
            orjson.dumps({"items": [item(run + "b", b * 1000 + i) for i in range(1000)]})
            for b in range(batches)
        ),
        headers,
    )
    paced_n = int(args.rate * args.seconds)
    write_targets(
        work / "paced.jsonl",
        url,
        (orjson.dumps(item(run + "p", n)) for n in range(paced_n)),
        headers,
    )
    write_targets(
        work / "flat.jsonl",
        url,
        (orjson.dumps(item(run + "f", n)) for n in range(args.singles)),
        headers,
    )
    write_targets(
        work / "warm.jsonl", url, (orjson.dumps(item(run + "w", n)) for n in range(500)), headers
    )
    with service("feedloop-ingest", env, port):
        attack(work / "warm.jsonl", rate=250, duration_s=2)
        batch = attack(work / "batch.jsonl", rate=0, duration_s=600, workers=4)
        paced = attack(work / "paced.jsonl", rate=args.rate, duration_s=args.seconds)
        flat = attack(work / "flat.jsonl", rate=0, duration_s=600, workers=64)
    env["FEEDLOOP_INGEST_WORKERS"] = "2"
    write_targets(
        work / "batch2.jsonl",
        url + "/batch",
        (
            orjson.dumps({"items": [item(run + "c", b * 1000 + i) for i in range(1000)]})
            for b in range(batches)
        ),
        headers,
    )
    with service("feedloop-ingest", env, port):
        attack(work / "warm.jsonl", rate=250, duration_s=2)
        batch2 = attack(work / "batch2.jsonl", rate=0, duration_s=600, workers=4)
    batch2_rate = batch2["throughput"] * 1000 * batch2["success"]
    flood_targets(work / "flood.jsonl", url, run + "k", args.flood, headers)
    env["FEEDLOOP_INGEST_WORKERS"] = "1"
    with service("feedloop-ingest", env, port) as process:
        attack(work / "warm.jsonl", rate=250, duration_s=2)
        with peak_rss(process.pid) as memory:
            flood = attack(work / "flood.jsonl", rate=0, duration_s=600, workers=64)
    ms = 1e-6
    batch_rate = batch["throughput"] * 1000 * batch["success"]
    ceiling_rate = ceiling["records_per_s"]
    lat = paced["latencies"]
    print_table(
        f"bench-ingest: record ~{record_size} B, broker {args.bootstrap}, {os.cpu_count()} cores, "
        "load from vegeta",
        ["scenario", "items/s", "p50 ms", "p99 ms", "x ceiling"],
        [
            [
                "Kafka ProducerPerformance (acks=all, idempotent)",
                ceiling_rate,
                ceiling["p50_ms"],
                ceiling["p99_ms"],
                "1.00",
            ],
            [
                "ingest batch POST, 1000 items/req, 4 in flight",
                batch_rate,
                batch["latencies"]["50th"] * ms,
                batch["latencies"]["99th"] * ms,
                f"{batch_rate / ceiling_rate:.3f}",
            ],
            [
                "same, ingest with 2 worker processes",
                batch2_rate,
                batch2["latencies"]["50th"] * ms,
                batch2["latencies"]["99th"] * ms,
                f"{batch2_rate / ceiling_rate:.3f}",
            ],
            [
                f"ingest single POST paced {args.rate}/s ({paced['success'] * 100:.1f}% 202)",
                paced["throughput"],
                lat["50th"] * ms,
                lat["99th"] * ms,
                f"{paced['throughput'] / ceiling_rate:.3f}",
            ],
            [
                "ingest single POST flat out, 64 in flight",
                flat["throughput"],
                flat["latencies"]["50th"] * ms,
                flat["latencies"]["99th"] * ms,
                f"{flat['throughput'] / ceiling_rate:.3f}",
            ],
        ],
    )
    print(
        f"\n  aims: batch >= 0.5 x ceiling -> {batch_rate / ceiling_rate:.2f} x; "
        f"single p99 < 50 ms at {args.rate}/s -> {lat['99th'] * ms:.1f} ms"
    )
    mib = 2**20
    fields = IngestSettings.model_fields
    budget = (
        fields["idempotency_max_bytes"].default
        + fields["idempotency_keys_max_bytes_per_client"].default
    )
    print(
        f"  unique Idempotency-Key flood: {args.flood:,} single POSTs, 64 in flight, each its own "
        f"~170-byte key ({flood['success'] * 100:.1f}% 202, {flood['throughput']:,.0f} req/s): "
        f"ingest RSS {memory['start'] / mib:,.0f} MiB before, peak {memory['peak'] / mib:,.0f} "
        f"MiB (+{(memory['peak'] - memory['start']) / mib:,.0f} MiB), "
        f"{memory['end'] / mib:,.0f} MiB after; idempotency budget "
        f"{budget / mib:,.0f} MiB (ids + one client's keys)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--singles", type=int, default=5000)
    parser.add_argument("--flood", type=int, default=30_000, help="unique-key POSTs")
    asyncio.run(main(parser.parse_args()))
