"""Live services for the hostile ingest tests: real processes, real HTTP, the real test broker."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from feedloop.common.auth import hash_key
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings

from tests.e2e.platform import Platform
from tests.support.keys import TEST_API_KEY

# The ingest key of these tests may write for one source system only.
SOURCE_SYSTEM = "shop"
KEYS_BUDGET_BYTES = 64 * 1024


def bound_writer_keys() -> str:
    """FEEDLOOP_INGEST_API_KEYS: the test key, bound to SOURCE_SYSTEM, generous rate."""
    client = {
        "client_id": "tests",
        "key_sha256": hash_key(TEST_API_KEY),
        "scopes": ["feedback:write"],
        "source_systems": [SOURCE_SYSTEM],
        "rate_per_second": 100_000,
        "burst": 100_000,
    }
    return orjson.dumps([client]).decode()


async def fresh_prefix(bootstrap: str) -> str:
    """A topic prefix of its own with every topic created."""
    prefix = f"h{uuid.uuid4().hex[:10]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix),
        partitions=3,
    )
    return prefix


@pytest.fixture(scope="module")
async def ingest_platform(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    """One ingest process for a module, its idempotency-key budget made small to reach."""
    workdir: Path = tmp_path_factory.mktemp("hostile-ingest")
    platform = Platform(
        bootstrap=kafka_bootstrap,
        prefix=await fresh_prefix(kafka_bootstrap),
        workdir=workdir,
        extra_env={
            "ingest": {
                "FEEDLOOP_INGEST_API_KEYS": bound_writer_keys(),
                "FEEDLOOP_INGEST_IDEMPOTENCY_KEYS_MAX_BYTES_PER_CLIENT": str(KEYS_BUDGET_BYTES),
                "FEEDLOOP_INGEST_IDEMPOTENCY_WARMUP_HOURS": "0",
            }
        },
    )
    async with platform.running("ingest"):
        yield platform
