"""A steady, paced POST load on ingest that keeps every outcome, and what it measured."""

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from scripts.demo.story import Voice
from tests.e2e.story import API_KEY


@dataclass
class PacedLoad:
    """Posts one voice at a time at `per_s` (open loop: a slow answer delays no other item).

    A 503 is retried with the same item after its Retry-After, as a client should: the
    feedback id is derived from the item, so the retry can only repeat, never add.
    """

    ingest: str
    voices: list[Voice]
    per_s: float
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_at: dict[str, float] = field(default_factory=dict)  # feedback id -> wall clock
    unavailable_at: list[float] = field(default_factory=list)  # every 503, wall clock
    slowest_s: float = 0.0  # the longest a POST took to be answered
    started_at: float = 0.0
    stopping: bool = False  # set by stop(): no more new items, the ones posted finish

    def stop(self) -> None:
        """Ends the load early: the voices not posted yet are left out."""
        self.stopping = True

    async def run(self) -> None:
        """Posts every voice at the pace (until stop()) and waits until each is accepted."""
        self.started_at = time.time()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(
            base_url=self.ingest, headers={"X-API-Key": API_KEY}, timeout=30, limits=limits
        ) as client:
            tasks = []
            for n, voice in enumerate(self.voices):
                await asyncio.sleep(max(0.0, self.started_at + n / self.per_s - time.time()))
                if self.stopping:
                    break
                tasks.append(asyncio.create_task(self._post(client, voice)))
            await asyncio.gather(*tasks)

    async def _post(self, client: httpx.AsyncClient, voice: Voice) -> None:
        deadline = time.time() + 120
        while True:
            assert time.time() < deadline, f"not accepted within 120 s: {voice.item}"
            sent = time.time()
            try:
                response = await client.post("/v1/feedback", json=voice.item)
            except httpx.TransportError:
                self.statuses[0] += 1
                await asyncio.sleep(0.5)
                continue
            now = time.time()
            self.slowest_s = max(self.slowest_s, now - sent)
            self.statuses[response.status_code] += 1
            if response.status_code in (200, 202):
                self.accepted_at.setdefault(response.json()["feedback_id"], now)
                return
            assert response.status_code == 503, response.text
            self.unavailable_at.append(now)
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    def window_s(self) -> float:
        """From the first 503 to the last (0 without any)."""
        if not self.unavailable_at:
            return 0.0
        return max(self.unavailable_at) - min(self.unavailable_at)

    def accepted_within(self, start: float, end: float) -> set[str]:
        """Feedback ids accepted between two instants (wall clock)."""
        return {f for f, at in self.accepted_at.items() if start <= at <= end}


async def wait_or_fail(load: "asyncio.Task[None]", seconds: float) -> None:
    """Sleeps, but re-raises at once if the load failed meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(load), seconds)
    if load.done():
        load.result()
