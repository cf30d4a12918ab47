"""What's going well: praise patterns per theme, ranked by reach and value; fading flagged."""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.prioritize.grouping import to_vector
from feedloop.prioritize.praise.patterns import PraiseItem, group_praise
from feedloop.prioritize.praise.rank import ThemeCounts, fading_z, rank

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually

from .factory import enriched, record, theme_vector


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


NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _praise(n: int, theme: str, cluster: str, *, days_ago: float, arr: float = 100.0) -> PraiseItem:
    return PraiseItem(
        feedback_id=f"{cluster}-{n}",
        theme=theme,
        customer_id=f"{cluster}-customer-{n}",
        arr=arr,
        occurred_at=NOW - timedelta(days=days_ago),
        text=f"{cluster} is lovely",
        vector=to_vector(theme_vector(cluster, noise=0.05, seed=n)),
    )


def test_praise_splits_by_similarity_within_a_theme_and_a_pattern_can_fade() -> None:
    items = (
        [_praise(n, "quality", "fabric", days_ago=1 + n / 10) for n in range(3)]
        + [_praise(9, "quality", "stitching", days_ago=2, arr=10_000.0)]
        # Delivery praise: six customers in the window before, one in the recent one.
        + [_praise(n, "delivery", "fast", days_ago=20 + n / 10) for n in range(6)]
        + [_praise(7, "delivery", "fast", days_ago=3)]
    )
    # The window spans both compared windows: a pattern that fell silent stays one group.
    groups = group_praise(items, threshold=0.35, window=timedelta(days=28))
    split = group_praise(items, threshold=0.35, window=timedelta(days=14))
    assert len(split) == len(groups) + 1, "a 17-day gap splits it under an issue's window"
    by_cluster = {g.items[0].text.split()[0]: g for g in groups}
    assert sorted(by_cluster) == ["fabric", "fast", "stitching"], "one group per cluster"
    assert [len(by_cluster[c].items) for c in ("fabric", "stitching", "fast")] == [3, 1, 7]
    assert by_cluster["fast"].theme == "delivery"
    assert by_cluster["fabric"].examples(2) == ["fabric is lovely"] * 2
    since = NOW - timedelta(days=14)
    totals = {"quality": (20, 20), "delivery": (10, 10)}
    ranked = rank([g.counts(since=since, totals=totals[g.theme]) for g in groups])
    fading = {r.counts.group: r.fading for r in ranked}
    assert fading == {
        by_cluster["fabric"].id: False,
        by_cluster["stitching"].id: False,
        by_cluster["fast"].id: True,
    }
    fast = next(r for r in ranked if r.counts.group == by_cluster["fast"].id)
    assert (fast.counts.praise_recent, fast.counts.praise_previous) == (1, 6)
    # Without embeddings the theme alone decides: one group per theme, as before.
    flat = [dataclasses.replace(i, vector=to_vector(None)) for i in items]
    assert len(group_praise(flat, threshold=0.35, window=timedelta(days=28))) == 2


async def test_praise_patterns_by_similarity_are_served_ranked_with_reasons(
    app_client: AppClient,
    database_url: str,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    now = datetime.now(UTC)
    spec = [("fabric", "quality", 100)] * 3 + [("stitch", "quality", 10_000)]
    spec += [("fast", "delivery", 100)] * 2
    items = [
        enriched(
            f"pp{n}",
            customer=f"pp-customer-{n}",
            theme=theme,
            cluster=cluster,
            label="positive",
            score=0.9,
            arr=arr,
            text=f"{cluster}: great.",
            occurred_at=now - timedelta(days=1, minutes=n),
        )
        for n, (cluster, theme, arr) in enumerate(spec)
    ]
    async with app_client(database_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in items])

        async def all_grouped() -> Any:
            body = (await client.get("/v1/praise", params={"by": "pattern"})).json()
            stored = sum(i["members"] for i in body["items"])
            return body if stored == len(items) else None

        body = await eventually(all_grouped)
        themes = (await client.get("/v1/praise")).json()
        quality = (
            await client.get("/v1/praise", params={"by": "pattern", "theme": "quality"})
        ).json()
    patterns = {i["examples"][0].split(":")[0]: i for i in body["items"]}
    assert set(patterns) == {"fabric", "stitch", "fast"}
    assert [i["rank"] for i in body["items"]] == [1, 2, 3] and body["by"] == "pattern"
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    fabric, stitch, fast = patterns["fabric"], patterns["stitch"], patterns["fast"]
    assert (fabric["is_pattern"], fabric["members"], fabric["theme"]) == (True, 3, "quality")
    assert (stitch["is_pattern"], stitch["customer_value"]) == (False, 10_000)
    assert fast["is_pattern"] is False and fast["distinct_customers"] == 2
    assert fabric["reasons"][0] == "pattern: 3 customers praised much the same"
    assert stitch["reasons"][0].startswith("one-off: 1 of the 3 customers")
    assert any(r.startswith("reach:") for r in fabric["reasons"])
    assert all(i["group"] == "pattern" and i["fading"] is False for i in body["items"])
    assert len({i["id"] for i in body["items"]}) == 3
    # The theme view is unchanged: one row per theme.
    assert {i["theme"]: i["distinct_customers"] for i in themes["items"]} == {
        "quality": 4,
        "delivery": 2,
    }
    assert all(i["group"] == "theme" and i["is_pattern"] is None for i in themes["items"])
    assert {i["theme"] for i in quality["items"]} == {"quality"} and len(quality["items"]) == 2
