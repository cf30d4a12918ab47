"""End-to-end benchmark: the four stages as real processes on the local broker, in one run.

    python -m benchmarks.bench_e2e [--items 1500] [--partitions 3]

1. Each stage's own throughput, by draining a backlog: ingest takes every item first (nothing
   downstream running), then enrich starts on the full `raw-feedback`, then prioritize on the
   full `enriched`, then notify, and every issue is resolved at once. A stage's rate is the
   items it finished over the time from its start (ready) to its last one, so no stage waits
   on another (notify: from the first resolution to its last `closed` record).
2. The loop flowing, all stages running: a fresh set of items posted flat out; end-to-end
   items/s that reach `prioritized` and `closed`, and latency percentiles from the POST to the
   record timestamps on `enriched`, `prioritized` and `closed` (closed: from the POST, which
   includes the wait for an owner to resolve the issue, and from the resolution).
3. Latency under steady load: on a fresh platform, single POSTs paced at 50 % of the
   sustainable maximum (the slowest stage's rate in part 1) for --seconds (60 s), then at
   90 % for --seconds90 (45 s); per rate, p50/p90/p99/max from the POST to its record on
   `enriched` and on `prioritized`, and, after every open issue is resolved once the load
   ends, from the resolution to `closed`. Aims: p99 POST -> prioritized under 250 ms at 50 %
   and under 1 s at 90 %.
The slowest stage of part 1 is named the bottleneck. Everything shares this machine's cores
(the broker, four services, the load and the receivers): read ratios, not absolute figures;
the load average is printed beside them.
Kafka: FEEDLOOP_BENCH_KAFKA (default 127.0.0.1:9092, `make kafka-up`).
"""

import argparse
import asyncio
import base64
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from feedloop.common import topics
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings

from benchmarks.common import load_average, percentile, print_table
from benchmarks.vegeta import attack_results, write_targets
from scripts.demo.story import before
from tests.e2e.platform import Platform
from tests.support.kafka import Record, read_topic
from tests.support.keys import TEST_API_KEY
from tests.support.receivers import running_sinks

API_KEY = TEST_API_KEY  # the development key works in local mode only
BATCH = 100


async def post_all(
    ingest: str, items: list[dict[str, Any]], in_flight: int = 2
) -> dict[str, float]:
    """Posts items in batches, a few in flight; returns feedback id -> POST time (epoch s)."""
    posted: dict[str, float] = {}
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            for _ in range(30):
                sent = time.time()
                response = await client.post("/v1/feedback/batch", json={"items": batch})
                if response.status_code != 503:
                    break
                await asyncio.sleep(1)
            response.raise_for_status()
            for result in response.json()["results"]:
                if result["status"] == "accepted":
                    posted[result["feedback_id"]] = sent

    async with httpx.AsyncClient(base_url=ingest, headers={"X-API-Key": API_KEY}, timeout=120) as c:
        await asyncio.gather(*(worker(c) for _ in range(in_flight)))
    return posted


async def wait_records(
    bootstrap: str, topic: str, n: int, *, timeout_s: float, what: str, platform: Platform
) -> list[Record]:
    """Reads a topic until it holds n records; fails with the processes' logs otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = await read_topic(bootstrap, topic, until=lambda rs: len(rs) >= n, timeout_s=10)
        if len(records) >= n:
            return records
        await asyncio.sleep(1)
    raise RuntimeError(f"{what}: fewer than {n} records on {topic}\n{platform.tails()}")


def events(records: Sequence[Record], event_type: str) -> list[tuple[dict[str, Any], float]]:
    """(event, record timestamp in s) of one event type."""
    out = []
    for r in records:
        event = orjson.loads(r.value)
        if event["event_type"] == event_type:
            out.append((event, r.timestamp / 1000))
    return out


def feedback_id(event: dict[str, Any]) -> str:
    payload = event["payload"]
    return str(payload.get("feedback_id") or payload["feedback"]["feedback_id"])


async def resolve_all(prioritize: str, at_most: int = 25_000) -> dict[str, float]:
    """Resolves every open issue (at most `at_most`, highest priority first); returns issue
    id -> resolution time (epoch s)."""
    resolved: dict[str, float] = {}
    async with httpx.AsyncClient(
        base_url=prioritize, headers={"X-API-Key": API_KEY}, timeout=60
    ) as client:
        for _ in range(50):  # pages of 500, bounded
            page = await client.get(
                "/v1/issues", params={"status": ["new"], "limit": 500, "sort": "-priority"}
            )
            page.raise_for_status()
            items = page.json()["items"]
            if not items or len(resolved) >= at_most:
                break
            for issue in items[: at_most - len(resolved)]:
                at = time.time()
                r = await client.patch(
                    f"/v1/issues/{issue['id']}",
                    json={"status": "resolved", "resolution_message": "Fixed, thank you."},
                )
                r.raise_for_status()
                resolved[issue["id"]] = at
    return resolved


async def closed_for(
    platform: Platform, prioritized: Sequence[Record], resolved: dict[str, float]
) -> list[Record]:
    """Waits until every feedback linked to a resolved issue is closed."""
    linked = {
        feedback_id(e)
        for e, _ in events(prioritized, "feedback.prioritized")
        if e["payload"]["issue_id"] in resolved
    }
    return await wait_records(
        platform.bootstrap,
        platform.topic(topics.CLOSED),
        len(linked),
        timeout_s=600,
        what="closures",
        platform=platform,
    )


async def stored_all(platform: Platform, n: int, timeout_s: float = 600) -> None:
    """Waits until prioritize has stored n feedback items."""
    url = platform.processes["prioritize"].url + "/v1/kpis/scores"
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=30) as client:
        while time.monotonic() < deadline:
            r = await client.get(url)
            if r.status_code == 200 and int(r.json()["overall"]["feedback"]) >= n:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"prioritize did not store {n} items\n{platform.tails()}")


def latencies_ms(
    posted: dict[str, float], stamped: list[tuple[dict[str, Any], float]]
) -> list[float]:
    return [(at - posted[feedback_id(e)]) * 1000 for e, at in stamped if feedback_id(e) in posted]


def pct_row(name: str, values: list[float]) -> list[object]:
    return [name, len(values), *(percentile(values, q) for q in (50, 90, 99)), max(values or [0])]


async def new_platform(bootstrap: str, partitions: int, notify_env: dict[str, str]) -> Platform:
    """A platform under a fresh topic prefix (and fresh databases), nothing started."""
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix),
        partitions=partitions,
    )
    platform = Platform(
        bootstrap=bootstrap, prefix=prefix, workdir=Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    )
    for stage in ("ingest", "enrich", "prioritize", "notify"):
        platform.extra_env[stage] = {f"FEEDLOOP_{stage.upper()}_LOG_LEVEL": "WARNING"}
    # Every customer may hear about every issue in this run.
    platform.extra_env["notify"] |= notify_env | {"FEEDLOOP_NOTIFY_DAILY_CAP": "1000"}
    return platform


async def drain_each_stage(platform: Platform, n: int) -> dict[str, tuple[int, float]]:
    """Part 1: each stage started on the full backlog of its input; (items, items/s) each."""
    t = platform.topic
    await platform.start("ingest")
    started = time.time()
    posted = await post_all(platform.processes["ingest"].url, items_of("a" + platform.prefix, n))
    ingest_s = time.time() - started
    await platform.start("enrich")
    # A transaction stamps a whole batch alike, so from ready to all enriched, as prioritize.
    started = time.time()
    enriched = await wait_records(
        platform.bootstrap,
        t(topics.ENRICHED),
        len(posted),
        timeout_s=900,
        what="enrich drain",
        platform=platform,
    )
    enrich_s = time.time() - started
    await platform.start("prioritize")
    # Its outbox relays in bursts, so record timestamps say little: from ready to all stored.
    started = time.time()
    await stored_all(platform, len(posted))
    prioritize_s = time.time() - started
    prioritized = await read_topic(
        platform.bootstrap, t(topics.PRIORITIZED), timeout_s=60, idle_s=2
    )
    await platform.start("notify")
    await asyncio.sleep(5)  # notify takes in `prioritized` first; the sending is measured
    resolved = await resolve_all(platform.processes["prioritize"].url)
    closed = await closed_for(platform, prioritized, resolved)
    notify_s = max(r.timestamp / 1000 for r in closed) - min(resolved.values())
    return {
        "ingest": (len(posted), len(posted) / ingest_s),
        "enrich": (len(enriched), len(enriched) / enrich_s),
        "prioritize": (len(posted), len(posted) / prioritize_s),
        "notify": (len(closed), len(closed) / notify_s),
    }


async def flow(platform: Platform, n: int) -> dict[str, Any]:
    """Part 2: all stages running, items posted flat out, issues resolved once all are linked."""
    t = platform.topic
    await platform.start()
    started = time.time()
    posted = await post_all(platform.processes["ingest"].url, items_of("b" + platform.prefix, n))
    enriched = await wait_records(
        platform.bootstrap,
        t(topics.ENRICHED),
        len(posted),
        timeout_s=900,
        what="enriched",
        platform=platform,
    )
    await stored_all(platform, len(posted))
    prioritized = await read_topic(
        platform.bootstrap, t(topics.PRIORITIZED), timeout_s=60, idle_s=2
    )
    resolved = await resolve_all(platform.processes["prioritize"].url)
    closed = await closed_for(platform, prioritized, resolved)
    links = events(prioritized, "feedback.prioritized")
    closures = events(closed, "feedback.closed")
    issue_of = {feedback_id(e): e["payload"]["issue_id"] for e, _ in links}
    last_link = max(at for _, at in links)
    first_resolution = min(resolved.values())
    return {
        "accepted": len(posted),
        "linked": len(links),
        "prioritized_per_s": len(posted) / (last_link - started),
        "links_per_s": len(links) / (last_link - started),
        "closed": len(closures),
        "closed_per_s": len(closures) / (max(at for _, at in closures) - first_resolution),
        "enriched_ms": latencies_ms(posted, events(enriched, "feedback.enriched")),
        "prioritized_ms": latencies_ms(posted, links),
        "closed_ms": latencies_ms(posted, closures),
        "resolution_to_closed_ms": [
            (at - resolved[issue_of[feedback_id(e)]]) * 1000
            for e, at in closures
            if issue_of.get(feedback_id(e)) in resolved
        ],
    }


def post_paced(
    ingest: str, items: list[dict[str, Any]], rate: float, work: Path
) -> dict[str, float]:
    """POSTs items one by one at a fixed rate with vegeta (open loop, a Go client that keeps
    the pace on a busy machine); returns feedback id -> the time its POST started."""
    targets = work / "paced.jsonl"
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    write_targets(targets, ingest + "/v1/feedback", (orjson.dumps(i) for i in items), headers)
    results = attack_results(targets, rate=max(1, round(rate)), duration_s=len(items) / rate + 5)
    posted: dict[str, float] = {}
    for result in results:
        if result["code"] in (200, 202):
            body = orjson.loads(base64.b64decode(result["body"]))
            posted[body["feedback_id"]] = datetime.fromisoformat(result["timestamp"]).timestamp()
    return posted


async def stamped(
    platform: Platform, topic: str, event_type: str, ids: set[str]
) -> list[tuple[dict[str, Any], float]]:
    """The events of `ids` on a topic with their record timestamps (read once, to idle)."""
    records = await read_topic(platform.bootstrap, topic, timeout_s=120, idle_s=2)
    return [(e, at) for e, at in events(records, event_type) if feedback_id(e) in ids]


async def paced_round(
    platform: Platform, rate: float, seconds: float, run: str, stored: int
) -> dict[str, Any]:
    """One paced load: latencies to enriched and prioritized of the items it posted.

    `stored`: the items prioritize held before; the round ends once it holds these too.
    """
    t = platform.topic
    items = items_of(run, max(1, int(rate * seconds)))
    started = time.time()
    posted = await asyncio.to_thread(
        post_paced, platform.processes["ingest"].url, items, rate, platform.workdir
    )
    took = max(posted.values(), default=started) - started
    load = load_average()
    await stored_all(platform, stored + len(posted))
    ids = set(posted)
    enriched = await stamped(platform, t(topics.ENRICHED), "feedback.enriched", ids)
    prioritized = await stamped(platform, t(topics.PRIORITIZED), "feedback.prioritized", ids)
    return {
        "rate": rate,
        "achieved": len(posted) / took,
        "posted": posted,
        "load": load,
        "enriched_ms": latencies_ms(posted, enriched),
        "prioritized_ms": latencies_ms(posted, prioritized),
        "prioritized": prioritized,
    }


async def steady(platform: Platform, ceiling: float, args: argparse.Namespace) -> dict[str, Any]:
    """Part 3: paced at 50 % and 90 % of the ceiling, then every open issue resolved."""
    t = platform.topic
    await platform.start()
    warm = await post_all(platform.processes["ingest"].url, items_of("w" + platform.prefix, 50))
    await stored_all(platform, len(warm))  # warm: models loaded, first batches through
    half = await paced_round(
        platform, 0.5 * ceiling, args.seconds, "h" + platform.prefix, len(warm)
    )
    stored = len(warm) + len(half["posted"])
    most = await paced_round(platform, 0.9 * ceiling, args.seconds90, "n" + platform.prefix, stored)
    rounds = [half, most]
    # A few issues, so that the closures measure notify's latency, not a queue of thousands.
    resolved = await resolve_all(platform.processes["prioritize"].url, at_most=args.resolve)
    linked = {
        feedback_id(e): e["payload"]["issue_id"]
        for r in rounds
        for e, _ in r["prioritized"]
        if e["payload"].get("issue_id") in resolved
    }
    closed: list[tuple[dict[str, Any], float]] = []
    deadline = time.monotonic() + 180
    while len(closed) < len(linked) and time.monotonic() < deadline:
        closed = await stamped(platform, t(topics.CLOSED), "feedback.closed", set(linked))
    after = [(at - resolved[linked[feedback_id(e)]]) * 1000 for e, at in closed]
    return {
        "rounds": rounds,
        "resolution_to_closed_ms": after,
        "linked": len(linked),
        "issues": len(resolved),
    }


def print_steady(result: dict[str, Any], ceiling: float, bottleneck: str) -> None:
    """Part 3's table and the aims."""
    rows = []
    for r, share in zip(result["rounds"], (50, 90), strict=True):
        label = f"{share}% ({r['rate']:.0f}/s asked, {r['achieved']:.0f}/s posted)"
        rows.append(pct_row(f"{label}: POST -> enriched", r["enriched_ms"]))
        rows.append(pct_row(f"{label}: POST -> prioritized", r["prioritized_ms"]))
    rows.append(
        pct_row(
            f"after the load, {result['issues']} issues resolved: resolution -> closed",
            result["resolution_to_closed_ms"],
        )
    )
    print_table(
        f"Part 3: steady paced load, single POSTs; sustainable maximum {ceiling:,.0f} items/s "
        f"({bottleneck})",
        ["latency (ms)", "n", "p50", "p90", "p99", "max"],
        rows,
    )
    for r, share, aim in zip(result["rounds"], (50, 90), (250, 1000), strict=True):
        p99 = percentile(r["prioritized_ms"], 99)
        print(
            f"  aim at {share}%: p99 POST -> prioritized < {aim} ms -> {p99:,.0f} ms "
            f"({len(r['prioritized_ms'])} of {len(r['posted'])} items; {r['load']} at its end)"
        )


def items_of(run: str, n: int) -> list[dict[str, Any]]:
    """n items of the demo story (a few dozen customers' wording, many channels)."""
    return [v.item for v in before(run, n)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60, help="paced at 50 %% this long")
    parser.add_argument("--seconds90", type=float, default=45, help="paced at 90 %% this long")
    parser.add_argument("--skip-flow", action="store_true", help="parts 1 and 3 only")
    parser.add_argument("--resolve", type=int, default=20, help="issues resolved in part 3")
    args = parser.parse_args()
    bootstrap = os.environ.get("FEEDLOOP_BENCH_KAFKA", "127.0.0.1:9092")
    print(
        f"e2e benchmark on {bootstrap}: {args.items} items per part, {args.partitions} partitions; "
        f"{load_average()}"
    )
    loop: dict[str, Any] | None = None
    async with running_sinks() as sinks:
        drained = await new_platform(bootstrap, args.partitions, sinks.notify_env())
        try:
            stages = await drain_each_stage(drained, args.items)
        finally:
            await asyncio.to_thread(drained.stop_all)
        print_stages(stages)
        if not args.skip_flow:
            flowing = await new_platform(bootstrap, args.partitions, sinks.notify_env())
            try:
                loop = await flow(flowing, args.items)
            finally:
                await asyncio.to_thread(flowing.stop_all)
            print_flow(loop)
        told = sum(sinks.received("resolution").values())
        bottleneck = min(("ingest", "enrich", "prioritize", "notify"), key=lambda s: stages[s][1])
        print(
            f"\nbottleneck: {bottleneck}, {stages[bottleneck][1]:,.0f} items/s draining alone "
            f"(resolution messages received by the sinks: {told}); {load_average()}"
        )
        # Feedback flows through three stages; notify works on resolutions, not on each item.
        limiting = min(("ingest", "enrich", "prioritize"), key=lambda s: stages[s][1])
        ceiling = stages[limiting][1]
        paced = await new_platform(bootstrap, args.partitions, sinks.notify_env())
        try:
            result = await steady(paced, ceiling, args)
        finally:
            await asyncio.to_thread(paced.stop_all)
    print(f"logs: {drained.workdir} (part 1), {paced.workdir} (part 3)")
    print_steady(result, ceiling, f"{limiting} limits it")


def print_stages(stages: dict[str, tuple[int, float]]) -> None:
    """Part 1's table."""
    print_table(
        "Part 1: each stage draining a full backlog of its input alone",
        ["stage", "items", "items/s"],
        [
            ["ingest    POST batch -> raw-feedback", *stages["ingest"]],
            ["enrich    raw-feedback -> enriched", *stages["enrich"]],
            ["prioritize enriched -> stored, complaints linked", *stages["prioritize"]],
            ["notify    resolved -> told -> closed (from the PATCHes)", *stages["notify"]],
        ],
    )


def print_flow(loop: dict[str, Any]) -> None:
    """Part 2's tables."""
    print_table(
        "Part 2: the loop flowing, every stage running",
        ["end to end", "items", "items/s"],
        [
            [
                "accepted -> through prioritize (all items)",
                loop["accepted"],
                loop["prioritized_per_s"],
            ],
            ["accepted -> linked on prioritized (complaints)", loop["linked"], loop["links_per_s"]],
            ["resolved -> closed (customers told)", loop["closed"], loop["closed_per_s"]],
        ],
    )
    print_table(
        "Part 2: latency (ms), a burst posted flat out",
        ["from the POST to", "n", "p50", "p90", "p99", "max"],
        [
            pct_row("enriched", loop["enriched_ms"]),
            pct_row("prioritized", loop["prioritized_ms"]),
            pct_row("closed (includes waiting for the owner)", loop["closed_ms"]),
            pct_row("closed, counted from the resolution", loop["resolution_to_closed_ms"]),
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
