"""Grouping quality: do complaints about one problem end in one issue, across wording and language?

    .venv/bin/python -m tests.quality.grouping [--batch 40] [--seed 7] [--sweep]

Runs the team-labelled grouping set (services/enrich/quality/grouping.yaml: 291 complaints in 7
languages, each labelled with the problem it reports) through enrich's real analysis and then
prioritize's real `store_batch` on a fresh SQLite database, in shuffled batches as the consumer
would see them, and compares the issues formed with the labels: pairwise precision / recall / F1
(two items in one issue vs. one problem) and the adjusted Rand index. `--sweep` tries several
similarity thresholds. Cross-service, so it lives under tests/ (services never import each other).
"""

import argparse
import asyncio
import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import comb
from pathlib import Path
from typing import Any

import yaml
from feedloop.common.db import create_engine
from feedloop.common.events import Enrichment, FeedbackEnriched, deterministic_id
from feedloop.enrich.pii import redact
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings
from feedloop.prioritize.issues.assign import Incoming, store_batch
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "services" / "enrich" / "quality" / "grouping.yaml"


@dataclass(frozen=True)
class Labelled:
    id: str
    lang: str
    problem: str
    text: str


@dataclass(frozen=True)
class Figures:
    precision: float
    recall: float
    f1: float
    ari: float
    issues: int
    problems: int
    multilingual_issues: int
    opposite_pairs: int = 0


# Problems that need opposite fixes: a pair of them in one issue is the worst merge.
OPPOSITES = (
    frozenset({"sizing_runs_small", "sizing_runs_large"}),
    frozenset({"product_price_too_high", "price_dropped_after_purchase"}),
)
# The pole each problem names (theme, pole): the held-out check of enrich's direction heads.
POLES = {
    "sizing_runs_small": ("sizing_fit", "small"),
    "sizing_runs_large": ("sizing_fit", "large"),
    "delivery_late": ("delivery", "late"),
    "product_price_too_high": ("price", "too_high"),
    "price_dropped_after_purchase": ("price", "dropped_after_purchase"),
}


def load(path: Path = DATA) -> list[Labelled]:
    """Reads the grouping set."""
    raw = yaml.safe_load(path.read_text())["items"]
    return [Labelled(r["id"], r["lang"], r["problem"], r["text"]) for r in raw]


def analyse(
    items: list[Labelled], *, v1: bool = False, grouping_map: bool = False
) -> list[Enrichment]:
    """Enrich's analysis of each item's redacted text, as the consumer runs it (or v1's)."""
    if v1:
        from benchmarks.enrich_v1 import V1Enricher

        enricher: Enricher = V1Enricher(EnrichSettings())
    else:
        enricher = Enricher(EnrichSettings(grouping_map=grouping_map))
    documents = [enricher.document(redact(i.text).text) for i in items]
    return enricher.analyse(documents, source="quality")


def event(item: Labelled, enrichment: Enrichment, n: int) -> FeedbackEnriched:
    """A feedback.enriched event for the item from its own customer (one complaint each)."""
    at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)
    payload: dict[str, Any] = {
        "feedback_id": deterministic_id("grouping", item.id),
        "received_at": at.isoformat(),
        "item": {
            "channel": "support_ticket",
            "ticket_id": f"T-{item.id}",
            "source_system": "grouping",
            "external_id": item.id,
            "customer": {"id": f"c-{item.id}", "tier": "standard"},
            "text": item.text,
            "locale": item.lang,
            "occurred_at": at.isoformat(),
        },
        "enrichment": enrichment.model_dump(mode="json"),
    }
    return FeedbackEnriched.model_validate(payload)


async def group(
    events: list[FeedbackEnriched], *, batch: int, seed: int, **overrides: Any
) -> dict[str, str | None]:
    """Runs the events through prioritize in shuffled batches; returns feedback id -> issue id."""
    order = list(events)
    random.Random(seed).shuffle(order)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/grouping.db"
        engine = create_engine(url)
        await upgrade(engine)
        settings = PrioritizeSettings(database_url=url, metrics_port=0, **overrides)
        for start in range(0, len(order), batch):
            incoming = [
                Incoming(e, e.feedback_id, deterministic_id("enriched", e.feedback_id))
                for e in order[start : start + batch]
            ]
            async with engine.begin() as conn:
                await store_batch(
                    conn=conn, batch=incoming, settings=settings, now=datetime.now(UTC)
                )
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, issue_id FROM feedback"))).all()
        await engine.dispose()
    return {r[0]: r[1] for r in rows}


def figures(labels: list[str], clusters: list[str], langs: list[str]) -> Figures:
    """Pairwise P/R/F1 and adjusted Rand index of clusters against labels."""
    pairs_same_label = sum(comb(n, 2) for n in Counter(labels).values())
    pairs_same_cluster = sum(comb(n, 2) for n in Counter(clusters).values())
    pairs_both = sum(comb(n, 2) for n in Counter(zip(labels, clusters, strict=True)).values())
    precision = pairs_both / pairs_same_cluster if pairs_same_cluster else 1.0
    recall = pairs_both / pairs_same_label if pairs_same_label else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = comb(len(labels), 2)
    expected = pairs_same_label * pairs_same_cluster / total if total else 0.0
    maximum = (pairs_same_label + pairs_same_cluster) / 2
    ari = (pairs_both - expected) / (maximum - expected) if maximum != expected else 1.0
    by_cluster: dict[str, set[str]] = {}
    for cluster, lang in zip(clusters, langs, strict=True):
        by_cluster.setdefault(cluster, set()).add(lang)
    problems_in: dict[str, Counter[str]] = {}
    for cluster, label in zip(clusters, labels, strict=True):
        problems_in.setdefault(cluster, Counter())[label] += 1
    opposite = sum(
        count[a] * count[b]
        for count in problems_in.values()
        for a, b in (sorted(pair) for pair in OPPOSITES)
    )
    return Figures(
        precision=precision,
        recall=recall,
        f1=f1,
        ari=ari,
        issues=len(set(clusters)),
        problems=len(set(labels)),
        multilingual_issues=sum(1 for langs_ in by_cluster.values() if len(langs_) > 1),
        opposite_pairs=opposite,
    )


def direction_figures(
    items: list[Labelled], enrichments: list[Enrichment]
) -> dict[str, Counter[str]]:
    """Per problem with a pole: how often enrich named that pole, the other one, or none."""
    table: dict[str, Counter[str]] = {}
    for item, enrichment in zip(items, enrichments, strict=True):
        if item.problem not in POLES:
            continue
        theme, pole = POLES[item.problem]
        named = next((m.direction for m in enrichment.themes if m.theme == theme), None)
        outcome = "none" if named is None else ("right" if named == pole else "wrong")
        table.setdefault(item.problem, Counter())[outcome] += 1
    return table


def evaluate(
    items: list[Labelled],
    enrichments: list[Enrichment],
    *,
    batch: int = 40,
    seed: int = 7,
    **overrides: Any,
) -> Figures:
    """Groups the analysed items and scores the issues; an item left out of issues stands alone."""
    events = [event(i, e, n) for n, (i, e) in enumerate(zip(items, enrichments, strict=True))]
    assigned = asyncio.run(group(events, batch=batch, seed=seed, **overrides))
    clusters = [assigned.get(e.feedback_id) or f"alone:{e.feedback_id}" for e in events]
    return figures([i.problem for i in items], clusters, [i.lang for i in items])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sweep", action="store_true", help="try several similarity thresholds")
    parser.add_argument("--v1", action="store_true", help="enrich v1's models (MiniLM, English)")
    parser.add_argument("--threshold", type=float, help="prioritize's similarity_threshold")
    parser.add_argument("--map", action="store_true", help="enrich's learned grouping map on")
    args = parser.parse_args()
    items = load()
    enrichments = analyse(items, v1=args.v1, grouping_map=args.map)
    negative = sum(e.sentiment.label == "negative" for e in enrichments)
    print(f"{len(items)} complaints, {negative} read as negative by enrich")
    for problem, counts in direction_figures(items, enrichments).items():
        print(f"direction {problem}: {dict(counts)}")
    for lang in sorted({i.lang for i in items}):
        subset = [(i, e) for i, e in zip(items, enrichments, strict=True) if i.lang == lang]
        table = direction_figures([i for i, _ in subset], [e for _, e in subset])
        total = sum((c for c in table.values()), Counter())
        print(f"direction, {lang}: {dict(total)}")
    thresholds = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55] if args.sweep else [args.threshold]
    for threshold in thresholds:
        overrides = {} if threshold is None else {"similarity_threshold": threshold}
        f = evaluate(items, enrichments, batch=args.batch, seed=args.seed, **overrides)
        print(
            f"threshold {threshold or 'default'}: pairwise P {f.precision:.3f} R {f.recall:.3f} "
            f"F1 {f.f1:.3f}, ARI {f.ari:.3f}, {f.issues} issues for {f.problems} problems, "
            f"{f.multilingual_issues} issues hold several languages, "
            f"{f.opposite_pairs} pairs of opposite problems share an issue"
        )


if __name__ == "__main__":
    main()
