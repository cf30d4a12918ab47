"""Internal notes on single feedback items: kept, bounded, scoped, and erased with the customer."""

import random
from datetime import UTC, datetime

import orjson
from feedloop.common.auth import hash_key
from feedloop.common.db import create_engine
from feedloop.prioritize.feedback import notes
from feedloop.prioritize.rights import erase_customer
from feedloop.prioritize.settings import PrioritizeSettings

from tests.support.clients import AppClient

from .test_feedback_listing import _seed
from .test_kpi_rollup import _recomputed, _rollup_table, _row

KEYS = orjson.dumps(
    [
        {
            "client_id": "console",
            "key_sha256": hash_key("w"),
            "scopes": ["issues:read", "issues:write"],
        },
        {"client_id": "reader", "key_sha256": hash_key("r"), "scopes": ["issues:read"]},
    ]
).decode()
NOTE = {"text": "Called back:\nparcel found.", "author": "Ana (owner)"}


async def test_notes_are_kept_in_order_and_read_with_the_item(
    app_client: AppClient, database_url: str
) -> None:
    rows = [_row(random.Random(1), i) for i in range(3)]
    await _seed(database_url, rows)
    async with app_client(database_url, api_keys=KEYS, consume=False) as client:
        w, r = {"X-API-Key": "w"}, {"X-API-Key": "r"}
        first = await client.post("/v1/feedback/f-1/notes", json=NOTE, headers=w)
        second = await client.post(
            "/v1/feedback/f-1/notes", json={"text": "Closed.", "author": "Bo"}, headers=w
        )
        read = await client.get("/v1/feedback/f-1", headers=r)
        refused = await client.post("/v1/feedback/f-1/notes", json=NOTE, headers=r)
        missing = await client.post("/v1/feedback/nope/notes", json=NOTE, headers=w)
        missing_get = await client.get("/v1/feedback/nope", headers=r)
        bad = [
            await client.post("/v1/feedback/f-1/notes", json=body, headers=w)
            for body in (
                {"text": " ", "author": "Ana"},
                {"text": "a\x00b", "author": "Ana"},
                {"text": "x" * 5001, "author": "Ana"},
                NOTE | {"at": "2020-01-01T00:00:00Z"},
            )
        ]
    assert (first.status_code, second.status_code) == (201, 201), first.text
    detail = read.json()
    assert detail["item"]["id"] == "f-1" and detail["item"]["text"] == "redacted"
    assert [(n["text"], n["author"], n["client_id"]) for n in detail["notes"]] == [
        (NOTE["text"], "Ana (owner)", "console"),
        ("Closed.", "Bo", "console"),
    ]
    assert refused.status_code == 403
    assert (missing.status_code, missing_get.status_code) == (404, 404)
    assert [b.status_code for b in bad] == [422, 422, 422, 422]


async def test_an_item_holds_at_most_max_notes(app_client: AppClient, sqlite_url: str) -> None:
    await _seed(sqlite_url, [_row(random.Random(2), 0)])
    engine = create_engine(sqlite_url)
    async with engine.begin() as conn:
        for i in range(notes.MAX_NOTES):
            await notes.add(
                conn=conn,
                feedback_id="f-0",
                author="a",
                client_id="c",
                text=f"{i}",
                now=datetime.now(UTC),
            )
    await engine.dispose()
    async with app_client(sqlite_url, consume=False) as client:
        over = await client.post("/v1/feedback/f-0/notes", json=NOTE)
    assert over.status_code == 409
    assert over.headers["content-type"] == "application/problem+json"


async def test_erasing_a_customer_deletes_the_notes_on_their_feedback(database_url: str) -> None:
    rng = random.Random(3)
    rows = [_row(rng, i) for i in range(4)]
    rows[0]["customer_id"] = rows[1]["customer_id"] = "c-gone"
    rows[2]["customer_id"] = rows[3]["customer_id"] = "c-kept"
    await _seed(database_url, rows)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for row in rows:
                await notes.add(
                    conn=conn,
                    feedback_id=row["id"],
                    author="Ana",
                    client_id="console",
                    text=f"about {row['customer_id']}",
                    now=datetime.now(UTC),
                )
        async with engine.begin() as conn:
            counts = await erase_customer(
                conn=conn, customer_id="c-gone", settings=PrioritizeSettings(environment="test")
            )
        async with engine.connect() as conn:
            # The erasure rewrote the rows' enrichment: the rollup followed them.
            rollup_now = await _rollup_table(conn)
            assert rollup_now == await _recomputed(conn)
            assert sum(c["feedback"] for c in rollup_now.values()) == len(rows)
            left = {
                row["id"]: len((await notes.detail(conn=conn, feedback_id=row["id"]))["notes"])
                for row in rows
            }
    finally:
        await engine.dispose()
    assert counts["feedback_notes"] == 2
    assert left == {"f-0": 0, "f-1": 0, "f-2": 1, "f-3": 1}
