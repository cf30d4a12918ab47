"""Benchmark of the notify stage: notifications/s end to end, from `prioritized` events to
`feedback.closed` records, to a local webhook receiver and to a local SMTP server, beside the
raw capacity of the same receivers (a plain concurrent httpx / aiosmtplib loop) as a ratio.

    python -m benchmarks.bench_notify [--notifications 2000] [--concurrency 32] [--profile DIR]

--profile DIR: py-spy (FEEDLOOP_PYSPY, default .local/py-spy/bin/py-spy) samples the notify
process while it works and writes DIR/notify-<channel>.svg (a flame graph).

Kafka: FEEDLOOP_BENCH_KAFKA (default 127.0.0.1:9092, `make kafka-up`). The receivers are the
demo sinks (scripts/demo/sinks.py, which verify every signature) in their own process; notify
runs as its own process (`feedloop-notify`, as deployed) on SQLite. The raw loops send the same
signed bodies and e-mails with the same concurrency; the SMTP loop opens one session per message
(the baseline kept from before notify pooled its sessions, so ratios stay comparable).
"""

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from feedloop.common import notifications, topics  # noqa: E402
from feedloop.common.codec import OutgoingRecord  # noqa: E402
from feedloop.common.kafka import ensure_topics  # noqa: E402
from feedloop.common.settings import ServiceSettings  # noqa: E402
from feedloop.notify.settings import DEMO_WEBHOOK_SECRET  # noqa: E402

from benchmarks.common import free_port, percentile, print_table, service, wait_http  # noqa: E402
from tests.support.kafka import read_topic  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "notify_factory", ROOT / "services" / "notify" / "tests" / "factory.py"
)
assert _spec and _spec.loader
_factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_factory)


@contextlib.contextmanager
def sinks(http_port: int, smtp_port: int) -> Iterator[str]:
    """Runs the demo sinks in their own process; yields their HTTP base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.demo.sinks", "--http-port", str(http_port),
         "--smtp-port", str(smtp_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(http_port)
        wait_http(smtp_port)
        yield f"http://127.0.0.1:{http_port}"
    finally:
        process.terminate()
        process.wait(10)


async def received(base: str) -> list[dict[str, Any]]:
    """What the sinks recorded."""
    async with httpx.AsyncClient(timeout=60) as client:
        messages: list[dict[str, Any]] = (await client.get(base + "/received")).json()["messages"]
    return messages


RAW_CPU_MS: dict[str, float] = {}
"""CPU milliseconds per message of each bare client loop (this process), by channel."""


async def bounded(n: int, concurrency: int, one: Any, channel: str) -> float:
    """Runs one(i) for i < n with at most `concurrency` at a time; returns the seconds taken."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    RAW_CPU_MS[channel] = (time.process_time() - cpu) * 1000 / n
    return time.perf_counter() - started


async def raw_webhooks(base: str, n: int, concurrency: int, run: str) -> float:
    """Signed webhook calls straight to the receiver; returns calls/s."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(i: int) -> None:
            body = orjson.dumps({"kind": "raw", "customer_id": f"{run}-raw-{i}", "message": "x"})
            now = int(time.time())
            response = await client.post(
                base + "/webhooks/raw",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    notifications.HEADER_SIGNATURE: notifications.sign(
                        DEMO_WEBHOOK_SECRET, now, body
                    ),
                    notifications.HEADER_TIMESTAMP: str(now),
                    notifications.HEADER_IDEMPOTENCY_KEY: f"{run}-{i}",
                },
            )
            response.raise_for_status()

        return n / await bounded(n, concurrency, one, "webhook")


async def raw_mails(port: int, n: int, concurrency: int, run: str) -> float:
    """E-mails straight to the SMTP server, one session each; returns messages/s."""

    async def one(i: int) -> None:
        message = EmailMessage()
        message["From"] = "care@feedloop.example"
        message["To"] = f"{run}-raw-{i}@example.com"
        message["Subject"] = "What we did about your feedback"
        message[notifications.MAIL_HEADER_KIND] = "raw"
        message.set_content("We fixed it.\n" * 8)
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=30)

    return n / await bounded(n, concurrency, one, "email")


async def produce(bootstrap: str, records: list[OutgoingRecord]) -> None:
    """Produces records and waits for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def story(n: int, channel: str, run: str) -> list[Any]:
    """n customers' feedback on 10 issues, then the issues resolved: n resolution messages."""
    source = "shop" if channel == "webhook" else "crm"
    events = [
        _factory.linked(
            f"{run}-f{i}", f"{run}-i{i % 10}", f"{run}-c{i}",
            source=source, email=f"{run}-c{i}@example.com",
        )
        for i in range(n)
    ]  # fmt: skip
    return events + [
        _factory.issue(f"{run}-i{k}", 1, "resolved", message="We fixed it.") for k in range(10)
    ]


async def through_notify(
    channel: str,
    *,
    bootstrap: str,
    sinks_url: str,
    smtp_port: int,
    n: int,
    concurrency: int,
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
    label: str | None = None,
) -> dict[str, float]:
    """Runs notify as a process; returns notifications/s and latency from prioritized to closed."""
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    )
    port = free_port()
    p = "FEEDLOOP_NOTIFY_"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            p + "ENVIRONMENT": "test",
            p + "PORT": str(port),
            p + "METRICS_PORT": "0",
            p + "LOG_LEVEL": "WARNING",
            p + "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            p + "KAFKA_TOPIC_PREFIX": prefix,
            p + "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/notify.db",
            p + "SOURCE_SYSTEMS": orjson.dumps(
                {"shop": {"callback_url": sinks_url + "/webhooks/shop"}}
            ).decode(),
            p + "WEBHOOK_SIGNING_SECRET": DEMO_WEBHOOK_SECRET,
            p + "SMTP_HOST": "127.0.0.1",
            p + "SMTP_PORT": str(smtp_port),
            p + "SMTP_SECURITY": "none",
            p + "SEND_CONCURRENCY": str(concurrency),
            p + "BATCH_MAX_RECORDS": "1000",
        } | (extra_env or {})
        with service("feedloop-notify", env, port) as process:
            await _until_ready(port)
            records = _factory.records(story(n, channel, run), prefix)
            svg = profile / f"notify-{label or channel}.svg" if profile else None
            cpu = psutil.Process(process.pid).cpu_times()
            with profiled(process.pid, svg):
                started = time.time()
                await produce(bootstrap, records)
                closed = await read_topic(
                    bootstrap,
                    prefix + topics.CLOSED,
                    until=lambda rs: len(rs) >= n,
                    timeout_s=300,
                )
            elapsed = max(r.timestamp for r in closed) / 1000 - started
            used = psutil.Process(process.pid).cpu_times()
            cpu_s = used.user + used.system - cpu.user - cpu.system
    outcomes = {orjson.loads(r.value)["payload"]["outcome"] for r in closed}
    if len(closed) < n or outcomes != {"delivered"}:
        raise RuntimeError(f"{channel}: {len(closed)}/{n} closed, outcomes {outcomes}")
    got = [m for m in await received(sinks_url) if str(m.get("customer_id", "")).startswith(run)]
    if len(got) != n or not all(m.get("verified", True) for m in got):
        raise RuntimeError(f"{channel}: the receiver got {len(got)} of {n} messages")
    ages = [r.timestamp / 1000 - started for r in closed]
    return {
        "per_s": n / elapsed,
        "p50": percentile(ages, 50),
        "p99": percentile(ages, 99),
        "cpu_ms": cpu_s * 1000 / n,
    }


@contextlib.contextmanager
def profiled(pid: int, svg: Path | None) -> Iterator[None]:
    """Samples the process with py-spy while the block runs; writes a flame graph to `svg`."""
    if svg is None:
        yield
        return
    pyspy = os.environ.get("FEEDLOOP_PYSPY", str(ROOT / ".local" / "py-spy" / "bin" / "py-spy"))
    svg.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [pyspy, "record", "--pid", str(pid), "--rate", "200", "--format", "flamegraph",
         "--output", str(svg), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def dkim_env() -> dict[str, str]:
    """Notify settings that DKIM-sign every e-mail with a fresh RSA 2048 key (openssl)."""
    key = Path(tempfile.mkdtemp()) / "dkim.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    p = "FEEDLOOP_NOTIFY_"
    return {p + "DKIM_SELECTOR": "bench", p + "DKIM_PRIVATE_KEY_FILE": str(key)}


async def _until_ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("notify did not become ready")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", type=Path, default=None, help="flame graphs into this dir")
    parser.add_argument(
        "--channels", default="webhook,email", help="comma-separated: webhook, email"
    )
    parser.add_argument(
        "--dkim", type=int, default=0, help="also N e-mails DKIM-signed (RSA 2048); 0: off"
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    n, concurrency = args.notifications, args.concurrency
    http_port, smtp_port = free_port(), free_port()
    load_before = os.getloadavg()
    rows = []
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    with sinks(http_port, smtp_port) as url:
        run = uuid.uuid4().hex[:8]
        raw: dict[str, float] = {}
        if "webhook" in channels:
            raw["webhook"] = await raw_webhooks(url, n, concurrency, run)
        if "email" in channels:
            raw["email"] = await raw_mails(smtp_port, n, concurrency, run)
        for channel in channels:
            print(f"[{channel}] {n} notifications through notify ...", flush=True)
            result = await through_notify(
                channel,
                bootstrap=bootstrap,
                sinks_url=url,
                smtp_port=smtp_port,
                n=n,
                concurrency=concurrency,
                profile=args.profile,
            )
            rows.append(
                [
                    channel,
                    n,
                    result["per_s"],
                    raw[channel],
                    f"{result['per_s'] / raw[channel]:.2f}",
                    result["p50"],
                    result["p99"],
                    f"{result['cpu_ms']:.2f}",
                    f"{RAW_CPU_MS[channel]:.2f}",
                ]
            )
        if args.dkim and "email" in raw:
            print(f"[email, DKIM] {args.dkim} notifications through notify ...", flush=True)
            result = await through_notify(
                "email",
                bootstrap=bootstrap,
                sinks_url=url,
                smtp_port=smtp_port,
                n=args.dkim,
                concurrency=concurrency,
                profile=args.profile,
                extra_env=dkim_env(),
                label="email-dkim",
            )
            rows.append(
                ["email, DKIM", args.dkim, result["per_s"], raw["email"],
                 f"{result['per_s'] / raw['email']:.2f}", result["p50"], result["p99"],
                 f"{result['cpu_ms']:.2f}", f"{RAW_CPU_MS['email']:.2f}"]
            )  # fmt: skip
    print_table(
        f"notify: prioritized -> delivered -> closed (SQLite, {concurrency} in flight)",
        [
            "channel",
            "messages",
            "notify/s",
            "raw receiver/s",
            "ratio",
            "p50 s",
            "p99 s",
            "notify CPU ms/msg",
            "raw client CPU ms/msg",
        ],
        rows,
    )
    print(
        "  notify/s: end to end, first prioritized record produced -> last feedback.closed;\n"
        "  raw receiver/s: the same receiver fed by a bare concurrent client loop;\n"
        "  p50/p99: seconds from the start until a customer's feedback.closed record;\n"
        "  CPU ms/msg: process CPU time (user + system) per message: the whole notify process\n"
        "  (intake, queue, sending, outbox) beside the bare loop's own process, which others'\n"
        "  load changes far less than wall time."
    )
    cores = os.cpu_count()
    print(
        f"  load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({cores} cores)"
    )


if __name__ == "__main__":
    asyncio.run(main())
