"""A 100 MB body from a client without a key costs no service more than a few MB of memory.

Every service runs as a real process; the body goes over real HTTP. The body limit sits
before authentication and body parsing (libs/common BodySizeLimit), so the answer comes
after at most the limit was read, and the rest of the body is discarded unread.
"""

from collections.abc import AsyncIterator

import httpx
import psutil
import pytest

from tests.e2e.fixtures import platform
from tests.e2e.platform import Platform

__all__ = ["platform"]

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CHUNK = b"x" * (1024 * 1024)
CHUNKS = 100
GROWTH_BYTES = 5 * 1024 * 1024
# A route of each service that takes a body; none of them is given a key.
ROUTES = {
    "ingest": ("POST", "/v1/feedback/batch"),
    "enrich": ("POST", "/v1/analyse"),
    "prioritize": ("PATCH", "/v1/issues/some-issue"),
    "notify": ("PUT", "/v1/customers/c-1/preferences"),
}


async def hundred_megabytes() -> AsyncIterator[bytes]:
    """100 MB in 1 MB chunks, sent chunked (no Content-Length)."""
    for _ in range(CHUNKS):
        yield CHUNK


def rss(platform: Platform, name: str) -> int:
    """Resident memory of a service's process."""
    popen = platform.processes[name].popen
    assert popen is not None
    return int(psutil.Process(popen.pid).memory_info().rss)


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, declared: bool
) -> httpx.Response:
    """Sends 100 MB without a key, streamed, with or without a declared Content-Length."""
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(CHUNKS * len(CHUNK))
    return await client.request(method, url, content=hundred_megabytes(), headers=headers)


async def test_an_unauthenticated_100_mb_body_is_refused_without_growing_any_service(
    platform: Platform,
) -> None:
    await platform.start()
    async with httpx.AsyncClient(timeout=120) as client:
        for name, (method, path) in ROUTES.items():
            url = platform.processes[name].url + path
            # Warm the route's code paths first, so what is measured is the body alone.
            await client.request(method, url, content=b"{}")
            before = rss(platform, name)
            streamed = await send(client, method, url, declared=False)
            declared = await send(client, method, url, declared=True)
            grown = rss(platform, name) - before
            # ingest authenticates before it reads a body at all: a client without a key
            # gets its 401 with no byte read. The others parse bodies before their
            # dependencies run, so the limit answers first.
            expected = 401 if name == "ingest" else 413
            assert streamed.status_code == expected, (name, streamed.text)
            assert declared.status_code == 413, (name, declared.text)
            for response in (streamed, declared):
                assert response.headers["content-type"] == "application/problem+json"
            assert declared.json()["field"] == "(body)"
            assert grown <= GROWTH_BYTES, f"{name} grew by {grown / 2**20:.1f} MiB"
