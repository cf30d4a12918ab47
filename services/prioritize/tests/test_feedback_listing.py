"""GET /v1/feedback: the stored (redacted) feedback, filtered, newest first, by keyset pages."""

import base64
import random
from datetime import timedelta
from typing import Any

import orjson
from feedloop.common.auth import hash_key
from feedloop.common.db import create_engine
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import feedback_t
from sqlalchemy import insert

from tests.support.clients import AppClient

from .test_kpi_rollup import START, _row


def _language(row: dict[str, Any]) -> str:
    return (row["enrichment"].get("language") or {}).get("code") or "unknown"


async def _seed(url: str, rows: list[dict[str, Any]]) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(insert(feedback_t), rows)
    finally:
        await engine.dispose()


def _rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = [_row(rng, i) for i in range(n)]
    for row in rows[::4]:  # ties: several items at the same moment, told apart by id
        row["occurred_at"] = START + timedelta(hours=5)
    return rows


async def _all_pages(client: Any, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/feedback", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


async def test_pages_hold_every_matching_item_once_newest_first(
    app_client: AppClient, database_url: str
) -> None:
    rows = _rows(90)
    await _seed(database_url, rows)
    newest_first = sorted(rows, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)
    async with app_client(database_url, consume=False) as client:
        items = await _all_pages(client, 7)
        assert [i["id"] for i in items] == [r["id"] for r in newest_first]
        assert items[0]["text"] == "redacted" and "embedding" not in items[0]

        filtered = await _all_pages(
            client, 5, theme=["sizing", "unknown"], language="de", tier="gold"
        )
        wanted = [
            r["id"]
            for r in newest_first
            if r["theme"] in ("sizing", None) and _language(r) == "de" and r["tier"] == "gold"
        ]
        assert wanted and [i["id"] for i in filtered] == wanted
        assert {i["language"] for i in filtered} == {"de"}

        since, until = START + timedelta(days=1), START + timedelta(days=2, hours=3)
        period = await _all_pages(
            client, 50, since=since.isoformat(), until=until.isoformat(), channel="survey"
        )
        wanted = [
            r["id"]
            for r in newest_first
            if since <= r["occurred_at"] < until and r["channel"] == "survey"
        ]
        assert wanted and [i["id"] for i in period] == wanted


async def test_newer_items_do_not_shift_the_pages_being_read(
    app_client: AppClient, sqlite_url: str
) -> None:
    rows = _rows(30)
    await _seed(sqlite_url, rows)
    async with app_client(sqlite_url, consume=False) as client:
        first = (await client.get("/v1/feedback", params={"limit": 10})).json()
        newer = _row(random.Random(9), 500)
        newer["occurred_at"] = START + timedelta(days=30)
        await _seed(sqlite_url, [newer])
        second = (
            await client.get("/v1/feedback", params={"limit": 10, "cursor": first["next_cursor"]})
        ).json()
    order = sorted(rows, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)
    assert [i["id"] for i in first["items"] + second["items"]] == [r["id"] for r in order[:20]]


async def test_bounds_bad_cursors_and_scope_are_refused_as_problems(
    app_client: AppClient, sqlite_url: str
) -> None:
    keys = orjson.dumps(
        [
            {"client_id": "reader", "key_sha256": hash_key("reader"), "scopes": ["issues:read"]},
            {"client_id": "other", "key_sha256": hash_key("other"), "scopes": ["feedback:write"]},
        ]
    ).decode()
    async with app_client(sqlite_url, api_keys=keys, consume=False) as client:
        reader = {"X-API-Key": "reader"}
        cases = {
            "too many": await client.get("/v1/feedback?limit=501", headers=reader),
            "none": await client.get("/v1/feedback?limit=0", headers=reader),
            "cursor": await client.get("/v1/feedback?cursor=bm90LWEtY3Vyc29y", headers=reader),
            "garbage": await client.get("/v1/feedback?cursor=%%%", headers=reader),
            "long value": await client.get("/v1/feedback?theme=" + "x" * 201, headers=reader),
        }
        for name, response in cases.items():
            assert response.status_code == 422, (name, response.text)
            assert response.headers["content-type"] == "application/problem+json", name
        wrong_scope = await client.get("/v1/feedback", headers={"X-API-Key": "other"})
        no_key = await client.get("/v1/feedback", headers={"X-API-Key": ""})
        fine = await client.get("/v1/feedback", headers=reader)
    assert wrong_scope.status_code == 403
    assert no_key.status_code == 401
    assert fine.status_code == 200 and fine.json() == {
        "items": [],
        "next_cursor": None,
        "limit": 100,
    }


async def test_a_nul_character_in_a_filter_is_no_server_error(
    app_client: AppClient, database_url: str
) -> None:
    async with app_client(database_url, consume=False) as client:
        for path in ("/v1/feedback", "/v1/kpis/scores", "/v1/kpis/themes", "/v1/kpis/nps-impact"):
            response = await client.get(path, params={"theme": "a\x00b", "language": "\x00"})
            assert response.status_code == 422, (path, response.text)
        nul_id = base64.urlsafe_b64encode(b"2026-03-01T00:00:00+00:00|f-\x00").decode()
        for params in ({"issue_id": "i-\x00"}, {"cursor": nul_id}):
            response = await client.get("/v1/feedback", params=params)
            assert response.status_code == 422, (params, response.text)
