"""Client factories: a service app run through its lifespan behind an HTTP client, and records
produced with every acknowledgement awaited."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from feedloop.common.codec import OutgoingRecord
from starlette.types import ASGIApp

from tests.support.keys import TEST_API_KEY

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def app_client(
    app: ASGIApp, *, base_url: str, api_key: str = TEST_API_KEY
) -> AsyncIterator[httpx.AsyncClient]:
    """Starts the app (lifespan: consumers, relay, producer), yields a client on it, stops it.

    The client carries the test API key and the app itself as `client.app`.
    """
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app),
            base_url=base_url,
            headers={"X-API-Key": api_key},
            timeout=30,
        ) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def send_all(producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]) -> None:
    """Produces records and waits for every acknowledgement."""
    futures = [
        await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in records
    ]
    for future in futures:
        await future
