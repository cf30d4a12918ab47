"""The whole platform as real processes on loopback, isolated by topic prefix and temp databases."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from feedloop.common import topics

from tests.support.keys import api_keys_json
from tests.support.receivers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
GROUPS = {
    "enrich": topics.CONSUMER_GROUP_ENRICH,
    "prioritize": topics.CONSUMER_GROUP_PRIORITIZE,
    "notify": topics.CONSUMER_GROUP_NOTIFY,
}
STAGES = ("ingest", "enrich", "prioritize", "notify")


@dataclass
class Process:
    """One service process, restartable."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    metrics_port: int = 0
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the process, appending to its log."""
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.command,
            env=os.environ | self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def signal(self, sig: int) -> None:
        """Sends a signal to the process."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> int | None:
        """Waits for exit; returns the exit code, or None if still running."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self) -> None:
        """Kills the process without letting it clean up."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s."""
        self.signal(signal.SIGTERM)
        code = self.wait(30)
        if code is None:
            self.kill9()
        return code

    @property
    def url(self) -> str:
        """Base URL of the process' HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Base URL of the process' /metrics listener (apart from its API)."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Platform:
    """Ingest, enrich, prioritize and notify on one test broker, with their own state."""

    bootstrap: str
    prefix: str
    workdir: Path
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    def env_for(self, stage: str, port: int) -> dict[str, str]:
        """Settings of one stage as environment variables."""
        p = f"FEEDLOOP_{stage.upper()}_"
        env = {
            p + "ENVIRONMENT": "test",
            p + "PORT": str(port),
            p + "API_KEYS": api_keys_json(),
            p + "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            p + "KAFKA_TOPIC_PREFIX": self.prefix,
            p + "LOG_LEVEL": "INFO",
        }
        if stage in ("prioritize", "notify"):
            env[p + "DATABASE_URL"] = f"sqlite+aiosqlite:///{self.workdir / stage}.db"
        if stage in ("enrich", "prioritize", "notify"):
            # A killed member's partitions move on after this long (the broker's minimum).
            env[p + "SESSION_TIMEOUT_MS"] = "6000"
            env[p + "BATCH_TIMEOUT_MS"] = "50"
            # Groups are per test run, as topics are: runs sharing the broker never rebalance
            # each other's consumers.
            env[p + "CONSUMER_GROUP"] = self.prefix + GROUPS[stage]
        if stage == "prioritize":
            env[p + "CLOSED_CONSUMER_GROUP"] = self.prefix + topics.CONSUMER_GROUP_PRIORITIZE_CLOSED
        if stage == "enrich":
            env[p + "INTRA_OP_THREADS"] = "1"
        if stage in ("prioritize", "notify"):
            env[p + "OUTBOX_POLL_S"] = "0.1"
        if stage == "notify":
            env[p + "SEND_POLL_S"] = "0.2"
            env[p + "BACKOFF_BASE_S"] = "0.2"
            env[p + "BACKOFF_MAX_S"] = "2"
        if stage == "ingest":
            env[p + "IDEMPOTENCY_WARMUP_HOURS"] = "1"
        return env | self.extra_env.get(stage, {})

    def add(self, stage: str, *, replica: int = 0) -> Process:
        """Creates (not starts) one replica of a stage."""
        port = free_port()
        metrics_port = free_port()
        name = stage if replica == 0 else f"{stage}-{replica}"
        process = Process(
            name=name,
            command=[str(BIN / f"feedloop-{stage}")],
            env=self.env_for(stage, port)
            | {f"FEEDLOOP_{stage.upper()}_METRICS_PORT": str(metrics_port)},
            port=port,
            log=self.workdir / f"{name}.log",
            metrics_port=metrics_port,
        )
        self.processes[name] = process
        return process

    async def start(self, *stages: str) -> None:
        """Starts stages and waits until each is ready."""
        for stage in stages or STAGES:
            process = self.processes.get(stage) or self.add(stage)
            process.start()
        await asyncio.gather(*(self.ready(self.processes[s]) for s in stages or STAGES))

    async def ready(self, process: Process, timeout_s: float = 90.0) -> None:
        """Waits until the process answers /readyz with 200."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if process.popen is not None and process.popen.poll() is not None:
                    raise AssertionError(f"{process.name} exited: {self.tail(process.name)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(process.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise AssertionError(f"{process.name} not ready: {self.tail(process.name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        """The end of a process' log, for failure messages."""
        log = self.processes[name].log
        return (
            "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""
        )

    def tails(self, lines: int = 15) -> str:
        """The end of every process' log, for failure messages."""
        return "\n".join(
            f"--- {name} ({'running' if p.alive else 'exited'}) ---\n{self.tail(name, lines)}"
            for name, p in self.processes.items()
        )

    async def restart(self, name: str) -> None:
        """Starts a stopped or killed process again (same port) and waits until it is ready."""
        process = self.processes[name]
        process.start()
        await self.ready(process)

    async def add_replica(self, stage: str) -> Process:
        """Starts one more replica of a stage (own port, own client id) and waits for it."""
        replica = sum(1 for p in self.processes if p.split("-")[0] == stage)
        process = self.add(stage, replica=replica)
        process.start()
        await self.ready(process)
        return process

    def stop_all(self) -> None:
        """Stops every process (SIGTERM, then SIGKILL)."""
        for process in self.processes.values():
            process.stop()

    @contextlib.asynccontextmanager
    async def running(self, *stages: str) -> AsyncIterator["Platform"]:
        """Starts the named stages (none: the test starts what it needs), yields the platform
        and stops every process on the way out, even when starting failed."""
        try:
            if stages:
                await self.start(*stages)
            yield self
        finally:
            await asyncio.to_thread(self.stop_all)

    def topic(self, name: str) -> str:
        """The physical name of a logical topic."""
        return self.prefix + name
