"""Issues of one problem do not depend on how its complaints fall into batches."""

import random
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import orjson
from feedloop.common.db import create_engine
from feedloop.prioritize.issues.assign import Incoming, store_batch
from feedloop.prioritize.migrate import upgrade
from sqlalchemy import text

from .conftest import make_settings
from .factory import enriched


async def _partition(
    tmp_path: Path, name: str, batches: list[list[Incoming]]
) -> set[frozenset[str]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
    engine = create_engine(url)
    await upgrade(engine)
    settings = make_settings(database_url=url)
    for batch in batches:
        async with engine.begin() as conn:
            await store_batch(conn=conn, batch=batch, settings=settings, now=datetime.now(UTC))
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT customer_id, issue_id FROM feedback"))).all()
    await engine.dispose()
    groups: dict[str, set[str]] = {}
    for customer, issue in rows:
        groups.setdefault(issue, set()).add(customer)
    return {frozenset(g) for g in groups.values()}


async def test_the_same_complaints_in_any_batch_split_form_one_pattern(tmp_path: Path) -> None:
    # noise 0.8 puts paraphrases ~0.6 apart, as real embeddings of varied wording are.
    items = [
        Incoming(enriched(f"s{i}", customer=f"c-{i}", cluster="small", noise=0.8), "c", f"e{i}")
        for i in range(12)
    ]
    partitions = []
    for seed in range(4):
        rng = random.Random(seed)
        order = items[:]
        rng.shuffle(order)
        cuts = sorted(rng.sample(range(1, len(order)), 3)) if seed else []
        bounds = [0, *cuts, len(order)]
        batches = [order[a:b] for a, b in pairwise(bounds)]
        partitions.append(await _partition(tmp_path, f"p{seed}", batches))
    assert partitions == [{frozenset(f"c-{i}" for i in range(12))}] * 4


async def test_an_issues_share_of_volume_falls_as_other_feedback_arrives(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/share.db"
    engine = create_engine(url)
    await upgrade(engine)
    settings = make_settings(database_url=url)
    first = [
        Incoming(enriched(f"d{i}", customer=f"d-{i}", theme="delivery"), "c", f"d{i}")
        for i in range(2)
    ]
    praise = [
        Incoming(
            enriched(f"p{i}", customer=f"p-{i}", theme="price", label="positive", score=0.8),
            "c",
            f"p{i}",
        )
        for i in range(18)
    ]
    for batch in (first, praise):
        async with engine.begin() as conn:
            await store_batch(conn=conn, batch=batch, settings=settings, now=datetime.now(UTC))
    async with engine.connect() as conn:
        (reach,) = (
            await conn.execute(text("SELECT priority FROM issue WHERE theme = 'delivery'"))
        ).one()
    await engine.dispose()
    reason = next(f["reason"] for f in orjson.loads(reach)["factors"] if f["name"] == "reach")
    assert "10.0% of all feedback" in reason, reason
