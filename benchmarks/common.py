"""Helpers the benchmarks share: a service as a subprocess, percentiles, Kafka's own tools."""

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"


def percentile(values: Sequence[float], q: float) -> float:
    """Returns the q-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def free_port() -> int:
    """Returns a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, timeout_s: float = 60.0) -> None:
    """Waits until something accepts connections on the port."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s}s")


@contextlib.contextmanager
def service(
    command: str | Sequence[str],
    env: dict[str, str],
    port: int,
    *,
    name: str | None = None,
    ready_s: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs a service console script (or an argv) with its settings as env vars until the
    block ends; its output goes to .local/bench-<name>.log."""
    argv = [str(VENV_BIN / command)] if isinstance(command, str) else list(command)
    log_path = ROOT / ".local" / f"bench-{name or Path(argv[0]).name}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(argv, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(port, ready_s)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def producer_performance(
    topic: str, *, records: int, record_size: int, bootstrap: str
) -> dict[str, float]:
    """Runs Kafka's ProducerPerformance (acks=all, idempotent) and parses its summary line."""
    cmd = [
        "java", "-Xmx512m", "-cp", f"{KAFKA_LIBS}/*",
        "-Dlog4j2.configurationFile=" + str(ROOT / "deploy/kafka/log4j2.properties"),
        "-Dkafka.logs.dir=" + str(ROOT / ".local"),
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
        "acks=all", "enable.idempotence=true", "linger.ms=5", "batch.size=262144",
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    summary = [line for line in out.splitlines() if "records sent" in line][-1]

    def grab(pattern: str) -> float:
        match = re.search(pattern, summary)
        return float(match.group(1)) if match else float("nan")

    return {
        "records_per_s": grab(r"([0-9.]+) records/sec"),
        "avg_ms": grab(r"([0-9.]+) ms avg latency"),
        "p50_ms": grab(r"([0-9.]+) ms 50th"),
        "p99_ms": grab(r"([0-9.]+) ms 99th"),
    }


def load_average() -> str:
    """The 1/5/15-minute load averages and the core count, as printed beside figures."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Prints a plain aligned table."""
    cells = [list(map(str, header))] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}", file=sys.stdout)
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
