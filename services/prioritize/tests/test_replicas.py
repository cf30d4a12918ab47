"""Two replicas against one PostgreSQL never double-assign or double-count."""

import asyncio
from collections import Counter

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackPrioritized, IssueUpdated
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic

from .factory import enriched, record

THEMES = ("sizing", "delivery", "billing")


MISMATCHED_COUNTS = (
    "SELECT count(*) FROM issue i WHERE i.feedback_count <> (SELECT count(*) FROM "
    "feedback f WHERE f.issue_id = i.id AND f.duplicate_of IS NULL) "
    "OR i.distinct_customers <> (SELECT count(DISTINCT customer_id) FROM feedback f "
    "WHERE f.issue_id = i.id)"
)


async def wait_until_stored(engine: AsyncEngine, n: int) -> None:
    """Polls until n items are stored and the outbox is empty (or about 30 s have passed)."""
    for _ in range(150):
        async with engine.connect() as conn:
            stored = await conn.scalar(text("SELECT count(*) FROM feedback"))
            pending = await conn.scalar(text("SELECT count(*) FROM outbox"))
        if stored == n and pending == 0:
            return
        await asyncio.sleep(0.2)


async def check_store(engine: AsyncEngine, n: int) -> None:
    """Every item stored and linked once; one issue per theme; its counts match its feedback."""
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM feedback")) == n
        per_theme = dict(
            (await conn.execute(text("SELECT theme, count(*) FROM issue GROUP BY theme"))).all()
        )
        mismatched = await conn.scalar(text(MISMATCHED_COUNTS))
        linked = await conn.scalar(text("SELECT count(*) FROM feedback WHERE issue_id IS NOT NULL"))
    assert per_theme == dict.fromkeys(THEMES, 1)
    assert mismatched == 0
    assert linked == n


async def check_each_prioritized_once(kafka_bootstrap: str, topic_prefix: str, n: int) -> None:
    """Each item's feedback.prioritized event is on the topic once (replays share an event id)."""
    out = await read_topic(
        kafka_bootstrap,
        topic_prefix + topics.PRIORITIZED,
        until=lambda rs: sum(1 for r in rs if b"feedback.prioritized" in r.value) >= n,
    )
    events = {}
    for r in out:
        envelope = decode(r.value, accept=[FeedbackPrioritized, IssueUpdated])
        events[envelope.event_id] = envelope
    fed = Counter(
        e.payload.feedback.feedback_id
        for e in events.values()
        if e.event_type == "feedback.prioritized"
    )
    assert len(fed) == n and set(fed.values()) == {1}


async def test_two_replicas_assign_every_item_exactly_once_with_matching_counts(
    app_client: AppClient,
    postgres_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    n = 600
    items = [
        enriched(f"r{i}", customer=f"c-{i % 97}", theme=THEMES[i % 3], noise=0.3) for i in range(n)
    ]
    # Keyed by feedback id, not theme: one theme spans partitions, so both replicas work on
    # the same theme at once and only the locks keep the assignment single.
    records = [record(item, prefix=topic_prefix, key=item.feedback_id) for item in items]
    engine = create_async_engine(postgres_url)
    async with (
        app_client(postgres_url, batch_max_records=50) as first,
        app_client(postgres_url, batch_max_records=50) as second,
    ):
        await asyncio.sleep(1.0)
        await send_all(raw_producer, records)
        await wait_until_stored(engine, n)
        batches = [c.app.state.consumers[0].batches for c in (first, second)]  # type: ignore[attr-defined]
    assert min(batches) > 0, f"both replicas must have worked: {batches}"
    try:
        await check_store(engine, n)
    finally:
        await engine.dispose()
    await check_each_prioritized_once(kafka_bootstrap, topic_prefix, n)
