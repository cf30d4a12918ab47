"""`make bench-console`: how long the console's overview takes over 100,000 feedback items.

Seeds prioritize's SQLite store with N feedback rows spread over the overview's 14 days (themes,
channels, segments, NPS/CSAT/CES answers, sentiment), serves prioritize (API only, no consumer),
notify and the console in threads on loopback, signs in, and times GET / (every chart and table
of the overview) and, beside it, the prioritize KPI calls it is made of, and the row-by-row
computation of the scores that the daily rollup replaced (in process, same data, same run).
Prints figures only.

    python -m services.console.tests.bench_overview [N]
"""

import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from feedloop.common.db import create_engine
from feedloop.console.app import create_app as create_console
from feedloop.console.settings import LOCAL_PASSWORD, LOCAL_USER, ConsoleSettings
from feedloop.notify.app import create_app as create_notify
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize.app import create_app as create_prioritize
from feedloop.prioritize.kpis import stats
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import Feedback, table_of
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import insert, select

from services.console.tests.loop import in_thread
from tests.support.browser import serve_in_thread
from tests.support.keys import TEST_API_KEY, api_keys_json

THEMES = ("sizing_fit", "delivery_speed", "checkout", "returns", "quality", "price", "support")
CHANNELS = ("survey", "review", "support_ticket", "chat", "email")
SEGMENTS = ("b2c", "smb", "enterprise")
DAYS = 14
RUNS = 3


def rows(n: int, now: datetime) -> list[dict[str, Any]]:
    """N feedback rows as prioritize stores them, over the last DAYS days."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        at = now - timedelta(seconds=rng.uniform(0, DAYS * 86400 - 60))
        score = rng.uniform(-1, 1)
        survey = rng.random() < 0.4
        out.append(
            {
                "id": f"f-{i}",
                "event_id": f"e-{i}",
                "issue_id": None,
                "duplicate_of": None,
                "customer_id": f"c-{i % 20000}",
                "segment": rng.choice(SEGMENTS),
                "tier": "standard",
                "arr": None,
                "channel": "survey" if survey else rng.choice(CHANNELS[1:]),
                "theme": rng.choice(THEMES),
                "sentiment_label": "negative" if score < -0.2 else "positive",
                "sentiment_score": score,
                "is_complaint": score < -0.2,
                "nps": rng.randint(0, 10) if survey else None,
                "csat": {"score": rng.randint(1, 5), "scale_max": 5, "method": "top_2_box"}
                if survey
                else None,
                "ces": {
                    "score": (c := rng.randint(1, 7)),
                    "scale_max": 7,
                    "direction": "higher_is_easier",
                    "ease": (c - 1) / 6,
                }
                if survey
                else None,
                "rating": None,
                "text": "Feedback text, redacted as stored.",
                "enrichment": {},
                "ref": {},
                "embedding": None,
                "occurred_at": at,
                "received_at": at,
                "stored_at": at,
                "enriched_at": at,
                "closed_at": None,
                "time_to_close_s": None,
                "close_outcome": None,
            }
        )
    return out


async def seed(url: str, n: int) -> float:
    """Creates the schema and inserts the rows; returns the seconds it took."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        table = table_of(Feedback)
        data = rows(n, datetime.now(UTC))
        async with engine.begin() as conn:
            for start in range(0, len(data), 5000):
                await conn.execute(insert(table), data[start : start + 5000])
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def row_by_row(url: str, since: datetime, until: datetime) -> float:
    """The scores as prioritize computed them before the daily rollup (every row of the period
    read and summed in Python, overall and per segment, channel, theme); returns seconds."""
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        async with engine.connect() as conn:
            t = table_of(Feedback)
            found = await conn.execute(
                select(t.c.nps, t.c.csat, t.c.ces, t.c.segment, t.c.channel, t.c.theme).where(
                    t.c.occurred_at >= since, t.c.occurred_at < until
                )
            )
            rows = list(found.all())

        def block(items: list[Any]) -> dict[str, Any]:
            return {
                "feedback": len(items),
                "nps": stats.nps([r.nps for r in items if r.nps is not None]),
                "csat": stats.csat(r.csat for r in items if r.csat),
                "ces": stats.ces(r.ces for r in items if r.ces),
            }

        out: dict[str, Any] = {"overall": block(rows)}
        for dimension in ("segment", "channel", "theme"):
            groups: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                groups[getattr(row, dimension) or "unknown"].append(row)
            out[dimension] = {k: block(v) for k, v in groups.items()}
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def timed(client: httpx.Client, path: str, **params: Any) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    response.raise_for_status()
    return time.perf_counter() - started


def backends(folder: str, db: str, bootstrap: str) -> tuple[Any, Any]:
    """The prioritize app on the seeded store and a notify app, neither consuming."""
    common: dict[str, Any] = {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_level": "WARNING",
        "kafka_bootstrap_servers": bootstrap,
        "consume": False,
    }
    prioritize = create_prioritize(PrioritizeSettings(**common, database_url=db))
    notify = create_notify(
        NotifySettings(**common, database_url=f"sqlite+aiosqlite:///{folder}/notify.db")
    )
    return prioritize, notify


def console_of(p_url: str, n_url: str) -> Any:
    """The console app reading both, with a timeout long enough to measure any answer."""
    return create_console(
        ConsoleSettings(
            environment="test",
            metrics_port=0,
            log_level="WARNING",
            prioritize_url=p_url,
            notify_url=n_url,
            api_key=TEST_API_KEY,
            api_timeout_s=120,  # measure however long it takes
        )
    )


def log_in(browser: httpx.Client) -> None:
    """Signs the browser in as the local user (the login form's CSRF token first)."""
    form = browser.get("/login").text
    token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    browser.post("/login", data={"csrf": token, "user": LOCAL_USER, "password": LOCAL_PASSWORD})


def measure(browser: httpx.Client, api: httpx.Client) -> dict[str, list[float]]:
    """RUNS timings of the overview page and of each KPI call it makes, by report line."""
    until = datetime.now(UTC) + timedelta(seconds=1)
    since = (until - timedelta(days=DAYS)).isoformat()
    timed(browser, "/")  # warm-up: connections, template compilation
    day = (until - timedelta(days=1)).isoformat()
    midnight = datetime.combine(until.date(), datetime.min.time(), tzinfo=UTC)
    whole = {"since": (midnight - timedelta(days=1)).isoformat(), "until": midnight.isoformat()}
    calls: list[tuple[str, httpx.Client, str, dict[str, str]]] = [
        ("GET / (console overview, whole page)", browser, "/", {}),
        ("  prioritize /v1/kpis/scores, 14 days", api, "/v1/kpis/scores", {"since": since}),
        ("  prioritize /v1/kpis/themes, 14 days", api, "/v1/kpis/themes", {"since": since}),
        ("  prioritize /v1/kpis/scores, one day", api, "/v1/kpis/scores", {"since": day}),
        ("  prioritize /v1/kpis/scores, whole day", api, "/v1/kpis/scores", whole),
        ("  prioritize /v1/kpis/closure, 14 days", api, "/v1/kpis/closure", {"since": since}),
        ("  prioritize /v1/kpis/spikes, 14 days", api, "/v1/kpis/spikes", {"since": since}),
    ]
    return {
        name: [timed(client, path, **params) for _ in range(RUNS)]
        for name, client, path, params in calls
    }


def report(n: int, timings: dict[str, list[float]], before: list[float], size: int) -> None:
    """Prints p50 and max per line, the rollup's speed-up and the page size."""
    print(f"overview of {n:,} feedback items over {DAYS} days (SQLite, {RUNS} runs, this machine)")
    lines = {**timings, "row by row (before the rollup), 14 days": before}
    for name, values in lines.items():
        print(f"{name:42s} p50 {statistics.median(values):6.3f} s  max {max(values):6.3f} s")
    scores = timings["  prioritize /v1/kpis/scores, 14 days"]
    ratio = statistics.median(before) / statistics.median(scores)
    print(f"scores over 14 days: the rollup answers {ratio:.0f}x faster than row by row")
    print(f"page size {size / 1024:.0f} KiB; target: the whole page within 1 s")


def main() -> int:
    """Prints the overview's time over N feedback items (default 100,000)."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    bootstrap = os.environ.get("FEEDLOOP_TEST_KAFKA", "127.0.0.1:19092")
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite+aiosqlite:///{Path(folder)}/prioritize.db"
        seconds = in_thread(seed(db, n))
        print(f"seeded {n:,} feedback items in {seconds:.1f} s")
        # Before any server runs in this process, as the old API's handler did it alone.
        end = datetime.now(UTC)
        before = [in_thread(row_by_row(db, end - timedelta(days=DAYS), end)) for _ in range(RUNS)]
        prioritize, notify = backends(folder, db, bootstrap)
        with (
            serve_in_thread(prioritize) as p_url,
            serve_in_thread(notify) as n_url,
            serve_in_thread(console_of(p_url, n_url)) as c_url,
            httpx.Client(base_url=c_url, timeout=120) as browser,
            httpx.Client(base_url=p_url, headers={"X-API-Key": TEST_API_KEY}, timeout=120) as api,
        ):
            log_in(browser)
            timings = measure(browser, api)
            size = len(browser.get("/").content)
    report(n, timings, before, size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
