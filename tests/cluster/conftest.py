"""The three-node cluster (once per session, or the one already running) and a whole platform
on it per test, with a fresh topic prefix; nodes a test killed or paused come back after it."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from feedloop.common import topics
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings

from tests.cluster.cluster import ROOT, Cluster
from tests.e2e.platform import STAGES, Platform
from tests.support.receivers import Sinks, running_sinks

PORT = int(os.environ.get("FEEDLOOP_TEST_CLUSTER_PORT", "29492"))

# The longer faults (about 8 of the 13 minutes) run with FEEDLOOP_TEST_CLUSTER=all, as
# `make test-cluster` sets it; a plain pytest (make test) runs the leader kill, the group
# coordinator kill and the retried batch (about 5 minutes on 2 cores).
long_fault = pytest.mark.skipif(
    os.environ.get("FEEDLOOP_TEST_CLUSTER") != "all",
    reason="a long cluster fault: make test-cluster (FEEDLOOP_TEST_CLUSTER=all) runs it",
)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The test cluster; started here (and stopped after the session) unless already up."""
    found = Cluster(port=PORT, data=ROOT / ".local" / f"kafka-cluster-{PORT}")
    was_up = found.answering()
    found.sh("up")
    yield found
    if not was_up:
        found.sh("down")


@dataclass
class ClusterRun:
    """A platform on the cluster, the receivers notify sends to, and the cluster itself."""

    cluster: Cluster
    platform: Platform
    sinks: Sinks

    @property
    def enrich_group(self) -> str:
        """The consumer group of enrich in this run."""
        return self.platform.prefix + topics.CONSUMER_GROUP_ENRICH

    @property
    def enrich_transactional_id(self) -> str:
        """The transactional id of enrich's producer in this run."""
        return self.platform.prefix + "enrich-0"

    async def start(self, *stages: str) -> None:
        """Starts stages (all four by default) and waits until each is ready: up to 4 min, as
        a starved 2-core machine can take 90 s just to import a service."""
        processes = [self.platform.add(stage) for stage in stages or STAGES]
        for process in processes:
            process.start()
        await asyncio.gather(*(self.platform.ready(p, timeout_s=240) for p in processes))

    def all_topics(self) -> list[str]:
        """Every topic of this run, by physical name."""
        return [self.platform.topic(t) for t in topics.ALL_TOPICS]


@pytest.fixture
async def cluster_run(cluster: Cluster, tmp_path: Path) -> AsyncIterator[ClusterRun]:
    """Topics at replication factor 3 (min.insync.replicas 2 from the brokers) and a platform
    on the cluster (the test starts the stages it needs); afterwards every process stopped,
    every node back in sync and the topics deleted."""
    prefix = f"c{uuid.uuid4().hex[:8]}."
    settings = ServiceSettings(kafka_bootstrap_servers=cluster.bootstrap, kafka_topic_prefix=prefix)
    await ensure_topics(settings, partitions=3, replication=3)
    async with running_sinks() as sinks:
        platform = Platform(
            bootstrap=cluster.bootstrap,
            prefix=prefix,
            workdir=tmp_path,
            extra_env={
                "ingest": {"FEEDLOOP_INGEST_RETRY_AFTER_S": "1"},
                "enrich": {"FEEDLOOP_ENRICH_TRANSACTIONAL_ID": prefix + "enrich-0"},
                "notify": sinks.notify_env(),
            },
        )
        run = ClusterRun(cluster=cluster, platform=platform, sinks=sinks)
        try:
            await cluster.wait_replicated(run.all_topics())
            yield run
        finally:
            await asyncio.to_thread(platform.stop_all)
            await asyncio.to_thread(cluster.restore)
            await cluster.wait_replicated(run.all_topics(), timeout_s=180)
            await delete_topics(cluster.bootstrap, run.all_topics())


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Deletes a run's topics, so the cluster's partitions do not pile up run after run."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
