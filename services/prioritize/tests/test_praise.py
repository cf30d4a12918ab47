"""What's going well: praise patterns per theme, ranked by reach and value; fading flagged."""

from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.prioritize.praise.rank import ThemeCounts, fading_z, rank

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually

from .factory import enriched, record


def counts(theme: str, pr: int, tr: int, pp: int, tp: int, customers: int, value: float) -> Any:
    return ThemeCounts(theme, pr, tr, pp, tp, customers, value)


def test_ranking_weighs_reach_and_value_and_flags_a_significant_fall() -> None:
    ranked = rank(
        [
            counts("delivery", 10, 40, 30, 40, 35, 1_000.0),  # praise fell from 75% to 25%
            counts("quality", 12, 30, 10, 30, 20, 90_000.0),
            counts("price", 3, 30, 3, 30, 5, 100.0),
        ]
    )
    assert [r.counts.theme for r in ranked] == ["quality", "delivery", "price"]
    assert [r.rank for r in ranked] == [1, 2, 3]
    by_theme = {r.counts.theme: r for r in ranked}
    assert by_theme["delivery"].fading and not by_theme["quality"].fading
    assert any(
        reason.startswith("fading: praise fell from 75% to 25%")
        for reason in by_theme["delivery"].reasons
    )
    assert all(any(r.startswith("reach:") for r in x.reasons) for x in ranked)
    # A small, noisy fall is not fading; too little data says nothing.
    assert fading_z(counts("t", 9, 20, 11, 20, 5, 0)) is not None
    assert not rank([counts("t", 9, 20, 11, 20, 5, 0)])[0].fading
    assert fading_z(counts("t", 0, 2, 4, 4, 1, 0)) is None
    assert rank([]) == []


async def test_praise_patterns_are_served_ranked_with_examples(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    now = datetime.now(UTC)
    items = [
        enriched(
            f"q{n}",
            customer=f"big-{n}",
            theme="quality",
            label="positive",
            score=0.9,
            arr=50_000,
            text="Great fabric.",
            occurred_at=now - timedelta(days=1),
        )
        for n in range(2)
    ] + [
        enriched(
            f"d{n}",
            customer=f"small-{n}",
            theme="delivery",
            label="positive",
            score=0.9,
            arr=100,
            text="Fast delivery.",
            occurred_at=now - timedelta(days=2),
        )
        for n in range(3)
    ]
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])

        async def all_stored() -> Any:
            body = (await client.get("/v1/praise")).json()
            stored = sum(i["praise_recent"] for i in body["items"])
            return body if stored == len(items) else None

        body = await eventually(all_stored)
    assert body, "two praise patterns"
    first, second = body["items"]
    assert (first["theme"], first["rank"]) == ("quality", 1), body
    assert (second["theme"], second["distinct_customers"]) == ("delivery", 3)
    assert first["customer_value"] == 100_000
    assert first["examples"] == ["Great fabric.", "Great fabric."]
    assert first["fading"] is False and body["window_days"] == 14
