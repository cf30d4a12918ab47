"""A batch a client retries after a broker kill: repeats on raw-feedback, one record per event
id on enriched (issue 18, item 3).

Ingest answers a whole batch 503 when one of its items was not acknowledged in time; the client
retries the batch with the same items. An item whose send completed after the timeout is then on
raw-feedback twice under the same event id (the feedback id, derived from source system and
external id): allowed by design. Enrich drops the repeat, so `enriched` holds each once.
"""

import asyncio
import time
import uuid
from collections import Counter

import httpx
import pytest
from feedloop.common import topics

from scripts.demo.story import Voice, before
from tests.cluster.cluster import NODES
from tests.cluster.conftest import ClusterRun
from tests.e2e.fixtures import needs
from tests.e2e.ledger import read
from tests.e2e.story import API_KEY
from tests.support.polling import eventually

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.timeout(900),  # setup alone can take 4 min on a starved machine
    needs("enrich"),
]

BATCH, EVERY_S, BATCHES = 25, 0.5, 24  # 50 items/s for 12 s


async def test_a_batch_retried_after_a_broker_kill_is_enriched_once_per_event_id(
    cluster_run: ClusterRun,
) -> None:
    cluster, platform = cluster_run.cluster, cluster_run.platform
    await cluster_run.start("ingest", "enrich")
    voices = before(uuid.uuid4().hex[:6], BATCH * BATCHES, seed=21)
    attempts: Counter[int] = Counter()  # batch -> POSTs it took
    accepted: set[str] = set()

    async def post(client: httpx.AsyncClient, n: int, batch: list[Voice]) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, f"batch {n} not accepted within 120 s"
            attempts[n] += 1
            response = await client.post(
                "/v1/feedback/batch", json={"items": [v.item for v in batch]}
            )
            if response.status_code == 202:
                results = response.json()["results"]
                assert {r["status"] for r in results} <= {"accepted", "duplicate"}, results
                accepted.update(r["feedback_id"] for r in results)
                return
            assert response.status_code == 503, response.text
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    async def paced_batches() -> None:
        async with httpx.AsyncClient(
            base_url=platform.processes["ingest"].url, headers={"X-API-Key": API_KEY}, timeout=30
        ) as client:
            tasks = []
            for n in range(BATCHES):
                tasks.append(
                    asyncio.create_task(post(client, n, voices[n * BATCH : (n + 1) * BATCH]))
                )
                await asyncio.sleep(EVERY_S)
            await asyncio.gather(*tasks)

    load = asyncio.create_task(paced_batches())
    await asyncio.sleep(3)
    leaders = await cluster.leaders(platform.topic(topics.RAW_FEEDBACK))
    victim = max(NODES, key=lambda n: sum(1 for leader in leaders.values() if leader == n))
    await cluster.kill9(victim)
    await asyncio.wait_for(load, 180)
    assert len(accepted) == len(voices)
    retried = sum(1 for n in attempts.values() if n > 1)
    assert retried > 0, "no batch was retried: the kill came too late or hit nothing"

    async def all_enriched() -> bool:
        ledger = await read(platform.bootstrap, platform.topic(topics.ENRICHED), timeout_s=10)
        return set(ledger.feedback_ids("feedback.enriched")) >= accepted

    await eventually(all_enriched, 180, what="all enriched", context=platform.tails, every_s=0.5)
    raw = await read(platform.bootstrap, platform.topic(topics.RAW_FEEDBACK))
    enriched = await read(platform.bootstrap, platform.topic(topics.ENRICHED))
    on_raw = Counter(e["event_id"] for e in raw.events)
    on_enriched = Counter(e["event_id"] for e in enriched.events)
    assert set(raw.feedback_ids("feedback.received")) == accepted
    assert len(on_enriched) == len(accepted) and set(on_enriched.values()) == {1}, {
        e: n for e, n in on_enriched.items() if n > 1
    }
    assert enriched.feedback_ids("feedback.enriched") == dict.fromkeys(accepted, 1)
    print(
        f"[cluster] retried batch after kill -9 of node {victim}: batches retried {retried}/"
        f"{BATCHES} (POSTs {sum(attempts.values())}); raw-feedback {len(raw.records)} records "
        f"for {len(on_raw)} event ids ({sum(n - 1 for n in on_raw.values())} repeats); "
        f"enriched {len(enriched.records)} records for {len(on_enriched)} event ids"
    )
