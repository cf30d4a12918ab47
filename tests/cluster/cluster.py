"""The three-node test cluster of `BROKERS=3 scripts/kafka.sh`, driven node by node."""

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import KafkaError

ROOT = Path(__file__).resolve().parents[2]
NODES = (1, 2, 3)


@dataclass
class Cluster:
    """Nodes 1-3: brokers on port..port+2, node id n on port + n - 1."""

    port: int
    data: Path

    @property
    def bootstrap(self) -> str:
        """Every broker, as a client's bootstrap list."""
        return ",".join(f"127.0.0.1:{self.port + n - 1}" for n in NODES)

    def sh(self, action: str, node: int | None = None) -> None:
        """Runs `BROKERS=3 scripts/kafka.sh <action> [node]` for this cluster."""
        env = os.environ | {
            "BROKERS": "3",
            "KAFKA_PORT": str(self.port),
            "KAFKA_DATA": str(self.data),
            "KAFKA_PARTITIONS": "3",
        }
        command = [str(ROOT / "scripts" / "kafka.sh"), action]
        if node is not None:
            command.append(str(node))
        subprocess.run(command, check=True, env=env, timeout=300)

    def pid(self, node: int) -> int | None:
        """The node's JVM, if its pid file names a live process."""
        try:
            pid = int((self.data / f"node-{node}" / "broker.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def answering(self) -> bool:
        """True when every node's broker port takes connections."""
        return all(_answers(self.port + n - 1) for n in NODES)

    async def kill9(self, node: int) -> float:
        """kill -9 one node; returns when it happened (wall clock)."""
        await asyncio.to_thread(self.sh, "kill9", node)
        return time.time()

    async def start(self, node: int) -> None:
        """Starts one node and waits until its broker port answers."""
        await asyncio.to_thread(self.sh, "start", node)

    async def stop(self, node: int) -> None:
        """SIGTERM one node (a controlled shutdown) and waits until it exited."""
        await asyncio.to_thread(self.sh, "stop", node)

    async def pause(self, node: int) -> None:
        """SIGSTOP one node: it holds its sockets and answers nothing (a zombie)."""
        await asyncio.to_thread(self.sh, "pause", node)

    async def resume(self, node: int) -> None:
        """SIGCONT a paused node."""
        await asyncio.to_thread(self.sh, "resume", node)

    def restore(self) -> None:
        """Resumes paused nodes and starts killed ones (after a test, whatever it did)."""
        for node in NODES:
            pid = self.pid(node)
            if pid is not None:
                os.kill(pid, signal.SIGCONT)
        for node in NODES:
            if self.pid(node) is None:
                self.sh("start", node)

    async def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> node id of its leader, from a fresh metadata request."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        await consumer.start()
        try:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(topic) or set()
            return {
                p: int(cluster.leader_for_partition(TopicPartition(topic, p)) or -1)
                for p in partitions
            }
        finally:
            await consumer.stop()

    async def coordinator(self, kind: CoordinationType, key: str) -> int:
        """The node id that coordinates a consumer group or a transactional id."""
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        await client.bootstrap()
        try:
            return int(await client.coordinator_lookup(kind, key))
        finally:
            await client.close()

    async def fully_replicated(self, topics: list[str]) -> bool:
        """True when the topics exist and every partition of every topic (internal ones too)
        has a leader and all three nodes in its ISR."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            await consumer.start()
            cluster = await consumer._client.fetch_all_metadata()
            if any(not cluster.partitions_for_topic(topic) for topic in topics):
                return False
            for partitions in cluster._partitions.values():
                for meta in partitions.values():
                    if meta.leader < 0 or len(meta.isr) < len(NODES):
                        return False
            return True
        except KafkaError:
            return False
        finally:
            await consumer.stop()

    async def wait_replicated(self, topics: list[str], timeout_s: float = 120.0) -> float:
        """Waits until every replica is back in sync; returns how long it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.answering() and await self.fully_replicated(topics):
                return time.monotonic() - started
            await asyncio.sleep(1.0)
        raise AssertionError(f"the cluster did not get back in sync within {timeout_s:.0f}s")


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0
