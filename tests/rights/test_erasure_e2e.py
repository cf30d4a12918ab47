"""A customer's data rights through four real processes, the real broker and real receivers.

A customer posts through two channels, is linked to an issue and told of its resolution; an
export returns all of it; an erasure requested while notify's stage is stopped is confirmed by
every service once it returns; a second export holds nothing personal; no topic, dead-letter
topic or database holds their e-mail, handle, name or text any more; KPIs and issue counts
are what they were.
"""

import asyncio
import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from feedloop.common import topics

from tests.e2e.fixtures import needs
from tests.e2e.platform import BIN, Platform, Process
from tests.e2e.story import API_KEY, stored_at_least
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import running_sinks

pytestmark = [pytest.mark.kafka, pytest.mark.slow, needs("enrich", "notify")]

WINDOW = (datetime.now(UTC) - timedelta(days=2), datetime.now(UTC) + timedelta(days=1))
"""A fixed KPI window, so two reads compare what was counted, not when they were asked."""
RESOLUTION = "Our courier now waits for a signature and ships within two days. Thank you!"
OTHERS = [
    "My order arrived two weeks late, the delivery was far too slow.",
    "Delivery took forever, the package came ten days after the promised date.",
    "The shipping was very slow and the parcel arrived late.",
    "Late delivery again, my package arrived a week after the estimate.",
    "The courier was late and my order took almost three weeks to arrive.",
]


def customer_items(run: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The customer's two items (e-mail and social) and the strings that identify them."""
    email = f"zeb.quarrington.{run}@example.org"
    handle = f"@zebq_{run}"
    texts = [
        "The courier left my parcel in the rain and it arrived three weeks late. "
        "Regards, Zebediah Quarrington",
        "Delivery took three weeks and the parcel was soaked through, never again",
    ]
    now = datetime.now(UTC) - timedelta(minutes=5)
    customer = {"id": f"cust-{run}", "email": email, "segment": "women", "tier": "premium"}
    items = [
        {
            "channel": "email",
            "source_system": "shop",
            "external_id": f"{run}-mail",
            "customer": customer,
            "text": texts[0],
            "locale": "en-GB",
            "occurred_at": now.isoformat(),
            "subject": "Late and wet parcel",
        },
        {
            "channel": "social",
            "source_system": "shop",
            "external_id": f"{run}-social",
            "customer": {"id": customer["id"]},
            "text": texts[1],
            "locale": "en-GB",
            "occurred_at": now.isoformat(),
            "platform": "twitter",
            "handle": handle,
        },
    ]
    return items, [email, handle, "Quarrington", "left my parcel in the rain", "soaked through"]


def other_items(run: str) -> list[dict[str, Any]]:
    """Other customers' complaints about the same problem (review channel)."""
    when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return [
        {
            "channel": "review",
            "source_system": "shop",
            "external_id": f"{run}-other-{n}",
            "customer": {"id": f"other-{run}-{n}", "segment": "men"},
            "text": text,
            "locale": "en-GB",
            "occurred_at": when,
            "rating": 1,
            "platform": "shop",
        }
        for n, text in enumerate(OTHERS)
    ]


async def api(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One call with the test key."""
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=30) as client:
        return await client.request(method, url, **kwargs)


async def post(ingest: str, items: list[dict[str, Any]]) -> None:
    """Posts items one by one with an Idempotency-Key each (503s retried)."""
    for item in items:
        for _ in range(20):
            response = await api(
                "POST",
                ingest + "/v1/feedback",
                json=item,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            if response.status_code != 503:
                break
            await asyncio.sleep(1)
        assert response.status_code == 202, response.text


async def export(notify: str, customer_id: str) -> dict[str, Any]:
    """The customer's export."""
    response = await api("GET", f"{notify}/v1/customers/{customer_id}/export")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def kpis(prioritize: str, issue_ids: list[str]) -> dict[str, Any]:
    """What must not change: the KPI scores and themes, and each issue's counts."""
    window = {"since": WINDOW[0].isoformat(), "until": WINDOW[1].isoformat()}
    scores = (await api("GET", prioritize + "/v1/kpis/scores", params=window)).json()
    issues = {}
    for issue_id in issue_ids:
        issue = (await api("GET", f"{prioritize}/v1/issues/{issue_id}")).json()
        issues[issue_id] = (issue["feedback_count"], issue["distinct_customers"])
    return {"scores": scores, "issues": issues}


def notify_env(platform: Platform, prioritize: Process) -> dict[str, str]:
    """notify's data-rights settings for this run (groups are per run, like topics)."""
    groups = {
        topics.RAW_FEEDBACK: [
            platform.prefix + topics.CONSUMER_GROUP_ENRICH,
            platform.prefix + topics.CONSUMER_GROUP_NOTIFY_CONTACTS,
        ],
        topics.ENRICHED: [platform.prefix + topics.CONSUMER_GROUP_PRIORITIZE],
        topics.PRIORITIZED: [platform.prefix + topics.CONSUMER_GROUP_NOTIFY],
        topics.CLOSED: [platform.prefix + topics.CONSUMER_GROUP_PRIORITIZE_CLOSED],
    }
    return {
        "FEEDLOOP_NOTIFY_ERASURE_SCRUB_S": "1",
        "FEEDLOOP_NOTIFY_ERASURE_TOPIC_GROUPS": orjson.dumps(groups).decode(),
        "FEEDLOOP_NOTIFY_EXPORT_PRIORITIZE_URL": prioritize.url,
        "FEEDLOOP_NOTIFY_EXPORT_PRIORITIZE_API_KEY": API_KEY,
    }


async def traces_on_topics(platform: Platform, markers: list[str]) -> dict[str, list[str]]:
    """Every topic of the run read from its start: which markers each still holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=platform.bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(platform.prefix)]
    finally:
        await admin.close()
    found: dict[str, list[str]] = {}
    for name in names:
        for record in await read_topic(platform.bootstrap, name, timeout_s=20, idle_s=1.0):
            blob = b" ".join(
                [record.key or b"", record.value or b""]
                + [v or b"" for _, v in record.headers or ()]
            ).decode(errors="replace")
            hits = [m for m in markers if m in blob]
            if hits:
                found.setdefault(name, []).extend(hits)
    return found


def traces_in_sqlite(path: Path, markers: list[str]) -> dict[str, list[str]]:
    """Every row of every table of a SQLite store: which markers it still holds, by table."""
    found: dict[str, list[str]] = {}
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                blob = " ".join(
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row
                )
                hits = [m for m in markers if m in blob]
                if hits:
                    found.setdefault(table, []).extend(hits)
    return found


async def traces_in_postgres(url: str, markers: list[str]) -> dict[str, list[str]]:
    """Every row of every table of a PostgreSQL store: which markers it still holds."""
    found: dict[str, list[str]] = {}
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                blob = " ".join(
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                    for v in row.values()
                )
                hits = [m for m in markers if m in blob]
                if hits:
                    found.setdefault(table, []).extend(hits)
    finally:
        await conn.close()
    return found


async def new_database(server: str) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(request: pytest.FixtureRequest) -> dict[str, str]:
    """The stores of prioritize and notify: SQLite files (platform default) or PostgreSQL."""
    if request.param == "sqlite":
        return {}
    server = request.getfixturevalue("postgres_server")
    return {stage: await new_database(server) for stage in ("prioritize", "notify")}


async def traces_in_stores(
    platform: Platform, stores: dict[str, str], markers: list[str]
) -> dict[str, Any]:
    """What the stores of prioritize and notify still hold of the markers."""
    found: dict[str, Any] = {}
    for stage in ("prioritize", "notify"):
        if stage in stores:
            hits = await traces_in_postgres(stores[stage], markers)
        else:
            hits = traces_in_sqlite(platform.workdir / f"{stage}.db", markers)
        if hits:
            found[stage] = hits
    return found


async def request_erasure_with_the_stage_stopped(
    platform: Platform, customer_id: str
) -> dict[str, Any]:
    """Stops notify's stage, asks an API-only notify for the erasure, waits for the others."""
    assert platform.processes["notify"].stop() == 0
    front = platform.add("notify", replica=1)
    front.env |= {"FEEDLOOP_NOTIFY_CONSUME": "false", "FEEDLOOP_NOTIFY_SEND": "false"}
    front.start()
    await platform.ready(front)
    response = await api("POST", f"{front.url}/v1/customers/{customer_id}/erasure")
    assert response.status_code == 202, response.text
    status: dict[str, Any] = response.json()
    assert set(status["pending"]) == {"ingest", "prioritize", "notify", "topics"}
    again = await api("POST", f"{front.url}/v1/customers/{customer_id}/erasure")
    assert again.status_code == 200 and again.json()["request_id"] == status["request_id"]

    async def stages_confirmed() -> bool:
        records = await read_topic(
            platform.bootstrap, platform.topic(topics.CUSTOMER_REQUESTS), idle_s=0.5
        )
        confirmed = {
            orjson.loads(r.value)["payload"].get("service")
            for r in records
            if b"customer.erased" in (r.value or b"")
        }
        return {"ingest", "prioritize"} <= confirmed and "notify" not in confirmed

    await eventually(
        stages_confirmed, timeout_s=60, every_s=1, what="ingest and prioritize confirm"
    )
    assert front.stop() == 0
    return status


async def test_an_erased_customer_leaves_no_trace_and_the_aggregates_stay(
    platform: Platform, stores: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:8]
    mine, markers = customer_items(run)
    customer_id = mine[0]["customer"]["id"]
    async with running_sinks() as sinks:
        for stage, url in stores.items():
            platform.extra_env[stage] = {f"FEEDLOOP_{stage.upper()}_DATABASE_URL": url}
        prioritize = platform.add("prioritize")
        platform.extra_env["notify"] = (
            platform.extra_env.get("notify", {})
            | sinks.notify_env()
            | notify_env(platform, prioritize)
        )
        await platform.start()
        ingest, notify = platform.processes["ingest"].url, platform.processes["notify"].url
        await post(ingest, other_items(run) + mine)
        await eventually(
            lambda: stored_at_least(prioritize.url, len(OTHERS) + 2),
            timeout_s=180,
            what="every item stored",
            context=platform.tails,
        )

        before = await export(notify, customer_id)
        from_cli = await cli_export(notify, customer_id)
        assert (
            from_cli["prioritize"] == before["prioritize"]
            and from_cli["contact"] == before["contact"]
        )
        assert before["contact"]["email"] == mine[0]["customer"]["email"]
        texts = {f["text"] for f in before["prioritize"]["feedback"]}
        assert len(before["prioritize"]["feedback"]) == 2, before
        assert any("left my parcel in the rain" in t for t in texts), texts
        issue_ids = [i["issue_id"] for i in before["prioritize"]["issues"]]
        assert issue_ids, before
        for issue_id in issue_ids:
            resolved = await api(
                "PATCH",
                f"{prioritize.url}/v1/issues/{issue_id}",
                json={"status": "resolved", "resolution_message": RESOLUTION, "owner": "maria"},
            )
            assert resolved.status_code == 200, resolved.text
        await eventually(
            lambda: sinks.received("resolution").get(customer_id, 0) >= 1,
            timeout_s=90,
            what="the customer told of the resolution",
            context=platform.tails,
        )
        told = await eventually(
            lambda: _notified(notify, customer_id), timeout_s=30, what="export shows the message"
        )
        assert told
        aggregates = await kpis(prioritize.url, issue_ids)

        requested = await request_erasure_with_the_stage_stopped(platform, customer_id)
        await platform.restart("notify")

        async def complete() -> dict[str, Any] | None:
            response = await api("GET", f"{notify}/v1/customers/{customer_id}/erasure")
            body: dict[str, Any] = response.json()
            return body if body.get("complete") else None

        status = await eventually(
            complete,
            timeout_s=120,
            every_s=1,
            what="every service confirms",
            context=platform.tails,
        )
        assert status["request_id"] == requested["request_id"]
        counts = {c["service"]: c["counts"] for c in status["confirmed"]}
        assert counts["prioritize"]["feedback_rows"] == 2, counts
        assert counts["ingest"]["idempotency_ids"] == 2, counts
        assert counts["notify"]["contacts"] == 1, counts

        after = await export(notify, customer_id)
        assert after["contact"]["email"] is None and after["contact"]["erased_at"], after
        assert after["prioritize"]["feedback"] == [] and after["prioritize"]["issues"] == []
        assert not [m for m in markers if m in orjson.dumps(after).decode()], after

        assert await traces_on_topics(platform, markers) == {}
        assert await traces_in_stores(platform, stores, markers) == {}
        assert await kpis(prioritize.url, issue_ids) == aggregates

        audit = (await api("GET", f"{notify}/v1/audit", params={"target_id": customer_id})).json()
        assert {e["action"] for e in audit} >= {"customer.exported", "customer.erasure_requested"}


async def cli_export(notify: str, customer_id: str) -> dict[str, Any]:
    """`feedloop customer export ID`, the installed command, against the running notify."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "feedloop"),
        "customer",
        "export",
        customer_id,
        "--notify",
        notify,
        env=os.environ | {"FEEDLOOP_API_KEY": API_KEY},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    body: dict[str, Any] = orjson.loads(out)
    return body


async def _notified(notify: str, customer_id: str) -> bool:
    body = await export(notify, customer_id)
    return any(n["kind"] == "resolution" and n["delivered_at"] for n in body["notifications"])
