"""Claims shared by ingest workers and replicas: retries racing on two processes give one record.

The store runs on real SQLite (the workers of one host) and real PostgreSQL (pods); the race runs
two ingest apps, each with its own memory, sharing only the claims database and the broker.
"""

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.ingest.claims import Claim, Coalescer, Settle, SharedClaims
from feedloop.ingest.settings import IngestSettings
from pydantic import ValidationError

from tests.support.fixtures import store_urls
from tests.support.kafka import read_topic

from .conftest import AppFactory, survey

sqlite_url, database_url = store_urls("claims.db")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_claim_held_elsewhere_is_waited_for_then_counts_as_done(database_url: str) -> None:
    clock = Clock()
    first = SharedClaims.from_url(database_url, lease_s=10, ttl_s=3600)
    first.clock = clock
    second = SharedClaims.from_url(database_url, lease_s=10, ttl_s=3600)
    second.clock = clock
    try:
        await first.create()
        await second.create()
        mine = await first.claim(["a", "b", "c"])
        assert sorted(mine.claimed) == ["a", "b", "c"]
        theirs = await second.claim(["a", "b", "d"])
        assert (sorted(theirs.busy), theirs.claimed, theirs.done) == (["a", "b"], ["d"], [])

        waiting = asyncio.create_task(second.wait(["a", "b"], poll_s=0.01))
        await first.settle(mine.token, accepted=["a"], failed=["b"])
        done, retry = await waiting
        assert (done, retry) == (["a"], ["b"])
        again = await second.claim(["a", "b"])
        assert (again.done, again.claimed) == (["a"], ["b"])
    finally:
        await first.close()
        await second.close()


async def test_a_dead_holder_is_taken_over_once_its_lease_ends_and_old_rows_expire(
    database_url: str,
) -> None:
    clock = Clock()
    claims = SharedClaims(
        SharedClaims.from_url(database_url, lease_s=10, ttl_s=3600).engine,
        lease_s=10,
        ttl_s=3600,
        clock=clock,
    )
    try:
        await claims.create()
        dead = await claims.claim(["x", "y"])
        await claims.settle(dead.token, accepted=["y"], failed=[])
        clock.now += 9
        assert (await claims.claim(["x"])).busy == ["x"]
        clock.now += 2
        taken = await claims.claim(["x"])
        assert taken.claimed == ["x"]
        # The dead holder's late acknowledgement no longer touches the row.
        await claims.settle(dead.token, accepted=["x"], failed=[])
        assert (await claims.claim(["x"])).busy == ["x"]

        assert await claims.forget(["x"]) == 1  # a customer's erasure
        assert await claims.prune() == 0
        clock.now += 3600
        assert await claims.prune() == 1  # y, acknowledged past the TTL
        assert (await claims.claim(["x", "y"])).claimed == ["x", "y"]
    finally:
        await claims.close()


async def test_concurrent_claims_of_one_process_share_a_transaction(tmp_path: Path) -> None:
    claims = SharedClaims.from_url(f"sqlite+aiosqlite:///{tmp_path}/c.db", lease_s=10, ttl_s=60)
    waves: list[int] = []
    wave = claims._wave

    async def counted(ops: list[list[str] | Settle]) -> list[Claim | None]:
        waves.append(len(ops))
        return await wave(ops)

    claims._waves = Coalescer(counted)
    try:
        await claims.create()
        results = await asyncio.gather(*(claims.claim([f"id-{n}", "shared"]) for n in range(20)))
    finally:
        await claims.close()
    # All 20 calls queued before the first wave ran: one transaction serves them all, and an
    # id two of them ask for goes to the first; the others wait for it.
    assert waves == [20]
    assert results[0].claimed == ["id-0", "shared"]
    assert [r.claimed for r in results[1:]] == [[f"id-{n}"] for n in range(1, 20)]
    assert all(r.busy == ["shared"] for r in results[1:])


def test_several_workers_without_a_shared_store_are_refused() -> None:
    with pytest.raises(ValidationError, match="CLAIMS_URL is required"):
        IngestSettings(environment="test", workers=2)
    assert IngestSettings(environment="test", workers=2, claims_url="sqlite+aiosqlite:///x.db")


@pytest.mark.kafka
async def test_retries_racing_on_two_ingest_processes_produce_each_item_once(
    make_client: AppFactory, kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    items = [survey(f"race-{n}") for n in range(120)]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(make_client(claims_url=database_url)) for _ in range(2)
        ]

        async def post(client: httpx.AsyncClient, n: int) -> int:
            if n % 3 == 0:
                response = await client.post("/v1/feedback/batch", json={"items": items[n : n + 3]})
            else:
                response = await client.post("/v1/feedback", json=items[n])
            return response.status_code

        # Every item reaches both processes at once, three times over, singly and in batches.
        statuses = await asyncio.gather(
            *(post(client, n) for _ in range(3) for client in clients for n in range(len(items)))
        )
    assert set(statuses) <= {200, 202, 207}, Counter(statuses)
    records = await read_topic(kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK)
    ids = Counter(header(r.headers, topics.HEADER_ID) for r in records)
    assert len(ids) == len(items)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
