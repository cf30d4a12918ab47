"""Ingest throughput and latency beside its two ceilings, measured in one run on one broker.

Runs ingest (and a no-op FastAPI app) as real uvicorn processes on loopback and prints:
  (a) the framework ceiling: a no-op FastAPI POST with a pydantic body of the same item, served
      with the same uvicorn settings (benchmarks/noop_app.py), flat out, 64 in flight;
  (b) single POSTs through ingest flat out, 64 in flight: ratio to (a);
  (c) the broker ceiling: Kafka's ProducerPerformance, acks=all, idempotent, records of our
      mean event size;
  (d) batch POSTs through ingest (1,000 items each, 4 in flight): items/s, ratio to (c);
  (e) single POSTs paced at 500/s and at 50 % of (b)'s rate: p50/p99/p99.9 (vegeta's own
      latencies of every request);
  then a flood of single POSTs, each with an Idempotency-Key of its own (~170 bytes), on a
  fresh process: its RSS before and at its peak (the idempotency store is bounded in bytes).
The load generator shares the machine's cores with ingest and the broker, as a client would
not; read the ratios (each against a ceiling measured minutes apart in the same run) and the
load average printed with them, not the absolute figures.
"""

import argparse
import asyncio
import base64
import contextlib
import os
import resource
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

from benchmarks.common import (
    ROOT,
    VENV_BIN,
    load_average,
    percentile,
    print_table,
    producer_performance,
    service,
)
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


MS = 1e-6  # vegeta reports nanoseconds


def row(name: str, report: dict[str, Any], items_per_request: int, ceiling: float) -> list[object]:
    """A table row: items/s (successful requests only), p50/p99/p99.9 ms, ratio to a ceiling,
    and the server's CPU time per item (process CPU: what other load on the machine changes
    least)."""
    rate = report["throughput"] * items_per_request  # vegeta's throughput: 2xx per second
    lat = report["latencies_ms"]
    items = report["requests"] * items_per_request
    others = {c: n for c, n in (report.get("status_codes") or {}).items() if not c.startswith("2")}
    refused = "".join(f", {n} x {'no answer' if c == '0' else c}" for c, n in others.items())
    return [
        f"{name} ({report['success'] * 100:.1f}% 2xx{refused})",
        rate,
        *(percentile(lat, q) for q in (50, 99, 99.9)),
        f"{rate / ceiling:.3f}" if ceiling else "",
        report["cpu_s"] / items * 1e6 if "cpu_s" in report else "",
    ]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its live children (workers) have used so far."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def measured(pid: int, targets: Path, **options: Any) -> dict[str, Any]:
    """An attack on a server process; its report gains the CPU seconds the server spent."""
    before = cpu_s(pid)
    report = attack(targets, **options)
    report["cpu_s"] = cpu_s(pid) - before
    return report


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (ProducerPerformance's JVM)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ingest_env(port: int, bootstrap: str, prefix: str) -> dict[str, str]:
    """ingest's settings for a bench run: its own topic prefix, no warm-up, quiet logs."""
    return {
        "FEEDLOOP_INGEST_PORT": str(port),
        "FEEDLOOP_INGEST_METRICS_PORT": "0",
        "FEEDLOOP_INGEST_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FEEDLOOP_INGEST_KAFKA_TOPIC_PREFIX": prefix,
        "FEEDLOOP_INGEST_LOG_LEVEL": "WARNING",
        "FEEDLOOP_INGEST_IDEMPOTENCY_WARMUP_HOURS": "0",
    }


HEADERS = {"Content-Type": "application/json", "X-API-Key": DEV_API_KEY}


def write_all_targets(work: Path, url: str, run: str, args: argparse.Namespace) -> None:
    """The vegeta target files of the run, written before any load starts."""
    headers = HEADERS

    def singles(name: str, n: int, target: str = url) -> None:
        bodies = (orjson.dumps(item(run + name, i)) for i in range(n))
        write_targets(work / f"{name}.jsonl", target, bodies, headers)

    batches = (
        orjson.dumps({"items": [item(run + "b", b * 1000 + i) for i in range(1000)]})
        for b in range(args.records // 1000)
    )
    write_targets(work / "batch.jsonl", url + "/batch", batches, headers)
    if args.compressed:
        batches = (
            orjson.dumps({"items": [item(run + "z", b * 1000 + i) for i in range(1000)]})
            for b in range(args.records // 1000)
        )
        write_targets(work / "batchz.jsonl", url + "/batch", batches, headers)
    singles("warm", 500)
    singles("flat", args.singles)
    if args.workers > 1:
        singles("flatw", args.singles)
        batches = (
            orjson.dumps({"items": [item(run + "w", b * 1000 + i) for i in range(1000)]})
            for b in range(args.records // 1000)
        )
        write_targets(work / "batchw.jsonl", url + "/batch", batches, headers)
    singles("noop", args.singles, url.replace(str(INGEST_PORT), str(NOOP_PORT)))
    singles("paced", int(args.rate * args.seconds))
    flood_targets(work / "flood.jsonl", url, run + "k", args.flood, headers)


INGEST_PORT = 18001
NOOP_PORT = 18002


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = ServiceSettings(kafka_bootstrap_servers=args.bootstrap, kafka_topic_prefix=prefix)
    sample = orjson.dumps(
        {"payload": {"item": item("size", 1)}, "event_id": "x" * 36, "envelope": "y" * 200}
    )
    record_size = len(sample)
    await ensure_topics(settings, [topics.RAW_FEEDBACK, "ceiling"], partitions=6)
    env = ingest_env(INGEST_PORT, args.bootstrap, prefix)
    url = f"http://127.0.0.1:{INGEST_PORT}/v1/feedback"
    work = ROOT / ".local" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    write_all_targets(work, url, run, args)
    load_before = load_average()
    noop_argv = [str(VENV_BIN / "python"), "-m", "benchmarks.noop_app", str(NOOP_PORT)]
    with service(noop_argv, {}, NOOP_PORT, name="noop-fastapi") as server:
        attack(work / "noop.jsonl", rate=250, duration_s=2)
        noop = measured(server.pid, work / "noop.jsonl", rate=0, duration_s=600, workers=64)
    with service("feedloop-ingest", env, INGEST_PORT) as server:
        attack(work / "warm.jsonl", rate=250, duration_s=2)
        flat = measured(server.pid, work / "flat.jsonl", rate=0, duration_s=600, workers=64)
        jvm_before = children_cpu_s()
        ceiling = producer_performance(
            prefix + "ceiling",
            records=args.records,
            record_size=record_size,
            bootstrap=args.bootstrap,
        )
        ceiling_cpu_s = children_cpu_s() - jvm_before
        batch = measured(server.pid, work / "batch.jsonl", rate=0, duration_s=600, workers=4)
        paced = measured(server.pid, work / "paced.jsonl", rate=args.rate, duration_s=args.seconds)
        half_rate = max(1, int(flat["throughput"] / 2))
        bodies = (orjson.dumps(item(run + "h", i)) for i in range(int(half_rate * args.seconds)))
        write_targets(work / "half.jsonl", url, bodies, HEADERS)
        half = measured(server.pid, work / "half.jsonl", rate=half_rate, duration_s=args.seconds)
    compressed = None
    if args.compressed:
        with service(
            "feedloop-ingest", env | {"FEEDLOOP_INGEST_COMPRESSION": args.compressed}, INGEST_PORT
        ) as zipped:
            attack(work / "warm.jsonl", rate=250, duration_s=2)
            compressed = measured(
                zipped.pid, work / "batchz.jsonl", rate=0, duration_s=600, workers=4
            )
    workers = several_workers(work, env, args.workers) if args.workers > 1 else {}
    load_after = load_average()
    memory, flood = flood_rss(work, env) if args.flood else ({}, {})
    noop_rate = noop["throughput"]
    noop_cpu = noop["cpu_s"] / noop["requests"] * 1e6
    ceiling_rate = ceiling["records_per_s"]
    print_table(
        f"bench-ingest: record ~{record_size} B, broker {args.bootstrap}, load from vegeta; "
        f"{load_before} before, {load_after} after",
        ["scenario", "items/s", "p50 ms", "p99 ms", "p99.9 ms", "x ceiling", "CPU us/item"],
        [
            [*row("(a) no-op FastAPI POST, 64 in flight", noop, 1, 0)[:5], "1.00", noop_cpu],
            row("(b) ingest single POST flat out, 64 in flight", flat, 1, noop_rate),
            [
                "(c) Kafka ProducerPerformance (acks=all, idempotent)",
                ceiling_rate,
                ceiling["p50_ms"],
                ceiling["p99_ms"],
                "",
                "1.00",
                ceiling_cpu_s / args.records * 1e6,
            ],
            row("(d) ingest batch POST, 1000 items/req, 4 in flight", batch, 1000, ceiling_rate),
            *(
                [
                    row(
                        f"(d) same, producer compression {args.compressed}",
                        compressed,
                        1000,
                        ceiling_rate,
                    )
                ]
                if compressed
                else []
            ),
            *(
                [
                    row(
                        f"(b) same, {args.workers} workers + shared claims",
                        workers["flat"],
                        1,
                        noop_rate,
                    ),
                    row(
                        f"(d) same, {args.workers} workers + shared claims",
                        workers["batch"],
                        1000,
                        ceiling_rate,
                    ),
                ]
                if workers
                else []
            ),
            row(f"(e) ingest single POST paced {args.rate}/s", paced, 1, 0),
            row(f"(e) ingest single POST paced {half_rate}/s (50% of b)", half, 1, 0),
        ],
    )
    batch_rate = batch["throughput"] * 1000
    flat_rate = flat["throughput"]
    print(
        f"\n  aims: (d) batch >= 0.5 x (c) -> {batch_rate / ceiling_rate:.2f} x; "
        f"(b) single >= 0.5 x (a) -> {flat_rate / noop_rate:.2f} x; "
        f"p99 < 50 ms at {args.rate}/s -> {percentile(paced['latencies_ms'], 99):.1f} ms"
    )
    print(
        "  CPU us/item: the server process's CPU time (the JVM's for (c)) over the items sent; "
        f"(a)/(b) {noop_cpu / (flat['cpu_s'] / flat['requests'] * 1e6):.2f}, "
        f"(c)/(d) {ceiling_cpu_s / args.records / (batch['cpu_s'] / batch['requests'] / 1000):.2f}"
    )
    if args.flood:
        print_flood(args.flood, memory, flood)


def several_workers(work: Path, env: dict[str, str], n: int) -> dict[str, dict[str, Any]]:
    """(b) and (d) again on n uvicorn workers sharing their claims in one SQLite file."""
    claims = work / f"claims-{uuid.uuid4().hex[:6]}.db"
    shared = env | {
        "FEEDLOOP_INGEST_WORKERS": str(n),
        "FEEDLOOP_INGEST_CLAIMS_URL": f"sqlite+aiosqlite:///{claims}",
    }
    try:
        with service(
            "feedloop-ingest", shared, INGEST_PORT, name="ingest-workers", ready_s=180
        ) as server:
            attack(work / "warm.jsonl", rate=250, duration_s=2)
            flat = measured(server.pid, work / "flatw.jsonl", rate=0, duration_s=600, workers=64)
            batch = measured(server.pid, work / "batchw.jsonl", rate=0, duration_s=600, workers=4)
    finally:
        for path in claims.parent.glob(claims.name + "*"):
            path.unlink()
    return {"flat": flat, "batch": batch}


def flood_rss(work: Path, env: dict[str, str]) -> tuple[dict[str, int], dict[str, Any]]:
    """A fresh ingest flooded with unique Idempotency-Keys: its RSS samples and the report."""
    with service("feedloop-ingest", env, INGEST_PORT) as process:
        attack(work / "warm.jsonl", rate=250, duration_s=2)
        with peak_rss(process.pid) as memory:
            flood = attack(work / "flood.jsonl", rate=0, duration_s=600, workers=64)
    return memory, flood


def print_flood(n: int, memory: dict[str, int], flood: dict[str, Any]) -> None:
    """The flood's RSS line, beside the store's budget in bytes."""
    mib = 2**20
    fields = IngestSettings.model_fields
    budget = (
        fields["idempotency_max_bytes"].default
        + fields["idempotency_keys_max_bytes_per_client"].default
    )
    print(
        f"  unique Idempotency-Key flood: {n:,} single POSTs, 64 in flight, each its own "
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
    parser.add_argument("--flood", type=int, default=20_000, help="unique-key POSTs (0: no flood)")
    parser.add_argument(
        "--workers", type=int, default=2, help="also (b) and (d) on this many workers (1: no)"
    )
    parser.add_argument("--compressed", default="", help="also (d) with this producer codec: lz4")
    asyncio.run(main(parser.parse_args()))
