"""Pipeline health: each service's /readyz, and the broker with every topic in place."""

import asyncio
from dataclasses import dataclass

import httpx
from aiokafka.errors import KafkaError
from feedloop.cli.kafka import admin_client
from feedloop.common import topics
from feedloop.common.settings import ServiceSettings

DEFAULT_URLS = {
    "ingest": "http://127.0.0.1:8001",
    "enrich": "http://127.0.0.1:8002",
    "prioritize": "http://127.0.0.1:8003",
    "notify": "http://127.0.0.1:8004",
}


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one health check."""

    name: str
    target: str
    ok: bool
    detail: str


async def check_service(*, client: httpx.AsyncClient, name: str, url: str) -> Check:
    """Calls a service's /readyz; ready means 200, and the failing checks are named."""
    target = url.rstrip("/") + "/readyz"
    try:
        response = await client.get(target)
    except httpx.HTTPError as exc:
        return Check(name, target, False, f"unreachable: {type(exc).__name__}")
    detail = f"HTTP {response.status_code}"
    try:
        body = response.json()
        failing = [k for k, ok in (body.get("checks") or {}).items() if not ok]
        detail += f" {body.get('status', '')}" + (f" ({', '.join(failing)})" if failing else "")
    except (ValueError, AttributeError):
        pass
    return Check(name, target, response.status_code == 200, detail.strip())


async def check_broker(*, settings: ServiceSettings, timeout_s: float) -> list[Check]:
    """Checks that the cluster answers metadata requests and that every topic exists."""
    bootstrap = settings.kafka_bootstrap_servers
    try:
        async with asyncio.timeout(timeout_s), admin_client(settings) as admin:
            existing = set(await admin.list_topics())
    except (KafkaError, TimeoutError, OSError) as exc:
        return [Check("kafka", bootstrap, False, f"unreachable: {type(exc).__name__}")]
    checks = [Check("kafka", bootstrap, True, f"{len(existing)} topics")]
    for name in topics.ALL_TOPICS:
        physical = settings.topic(name)
        found = physical in existing
        checks.append(Check(f"topic {name}", physical, found, "exists" if found else "missing"))
    return checks


async def check_health(
    *, settings: ServiceSettings, urls: dict[str, str], timeout_s: float = 3.0
) -> list[Check]:
    """Runs every check at once and returns them services first, then the broker."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        services = [check_service(client=client, name=n, url=u) for n, u in urls.items()]
        results, broker = await asyncio.gather(
            asyncio.gather(*services), check_broker(settings=settings, timeout_s=timeout_s)
        )
    return [*results, *broker]
