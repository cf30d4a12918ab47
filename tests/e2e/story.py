"""Posting the demo story's feedback and asking the platform what it made of it."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from scripts.demo.story import Voice
from tests.support.keys import TEST_API_KEY
from tests.support.polling import eventually

API_KEY = TEST_API_KEY  # the development key works in local mode only


async def post_voices(ingest: str, voices: list[Voice]) -> dict[str, str]:
    """Posts voices in batches (503s retried, bounded); returns feedback id -> external id."""
    accepted: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=ingest, headers={"X-API-Key": API_KEY}, timeout=60) as c:
        for start in range(0, len(voices), 50):
            items = [v.item for v in voices[start : start + 50]]
            for _ in range(20):
                response = await c.post("/v1/feedback/batch", json={"items": items})
                if response.status_code != 503:
                    break
                await asyncio.sleep(1)
            assert response.status_code == 202, response.text
            for result in response.json()["results"]:
                assert result["status"] in ("accepted", "duplicate"), result
                accepted[result["feedback_id"]] = result["external_id"]
    return accepted


async def stored_feedback(prioritize: str) -> int:
    """Feedback items prioritize has stored (last 30 days)."""
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=10) as client:
        response = await client.get(prioritize + "/v1/kpis/scores")
    return int(response.json()["overall"]["feedback"]) if response.status_code == 200 else 0


async def issues(prioritize: str, **params: Any) -> list[dict[str, Any]]:
    """Issues by descending priority."""
    query: dict[str, Any] = {"sort": "-priority", "limit": 50} | params
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=10) as client:
        response = await client.get(prioritize + "/v1/issues", params=query)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def stored_at_least(prioritize: str, n: int) -> bool:
    """True once prioritize has stored at least n feedback items."""
    return await stored_feedback(prioritize) >= n


async def wait_stored(
    prioritize: str, n: int, *, timeout_s: float, what: str, context: Callable[[], str]
) -> None:
    """Waits until prioritize has stored at least n items (eventually: `what` and the
    processes' `context` in the failure)."""
    await eventually(
        lambda: stored_at_least(prioritize, n), timeout_s=timeout_s, what=what, context=context
    )
