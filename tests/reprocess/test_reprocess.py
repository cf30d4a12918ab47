"""Re-analysis of history through the real broker: a taxonomy change moves items between issues.

Enrich (taxonomy A) and prioritize run on the test broker; complaints about trousers that are
too long land in `sizing_fit` issues, as A has no better theme. Taxonomy B adds `fit_length`;
`reprocess` re-analyses `enriched` with it, and prioritize moves those items into a
`fit_length` issue with exact counts. A second run finds nothing to do and produces nothing.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, FeedbackReceived, deterministic_id
from feedloop.enrich.app import create_app as enrich_app
from feedloop.enrich.reprocess import reprocess
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import DEFAULT_TAXONOMY, EnrichSettings
from feedloop.prioritize.app import create_app as prioritize_app
from feedloop.prioritize.settings import PrioritizeSettings

from tests.support.fixtures import app_test_settings
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY, api_keys_json

pytestmark = pytest.mark.kafka

SMALL = [
    "The jeans are far too small, awful fit, I had to send them back.",
    "These trousers are tiny, terrible sizing, I returned them.",
    "Awful sizing, the dress is two sizes too small.",
]
LONG = [
    "The trousers are far too long, awful, I had to send them back.",
    "Terrible: the legs of these jeans are way too long, I had to get them hemmed.",
    "Awful length, the trousers drag on the floor, far too long.",
]
FIT_LENGTH = {
    "id": "fit_length",
    "name": "Length",
    "description": "Trousers, sleeves or dresses too long or too short in length.",
    "examples": [
        "The trousers are far too long.",
        "The legs are way too long, I had to get them hemmed.",
        "The sleeves are too long and cover my hands.",
        "The dress is too long, it drags on the floor.",
        "Die Hose ist viel zu lang.",
        "Le pantalon est beaucoup trop long.",
    ],
}


def enrich_settings(**overrides: Any) -> EnrichSettings:
    """Enrich settings for a test (one inference thread, no separate metrics port)."""
    defaults: dict[str, Any] = app_test_settings() | {
        "intra_op_threads": 1,
    }
    return EnrichSettings(**(defaults | overrides))


@pytest.fixture(scope="module")
def taxonomy_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped taxonomy plus a `fit_length` theme: another version of the file."""
    data = yaml.safe_load(DEFAULT_TAXONOMY.read_text())
    data["themes"].append(FIT_LENGTH)
    path = tmp_path_factory.mktemp("taxonomy") / "taxonomy-b.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def enrichers(taxonomy_b: Path) -> tuple[Enricher, Enricher]:
    """The models with taxonomy A (shipped) and taxonomy B (with fit_length)."""
    return (
        Enricher(enrich_settings()),
        Enricher(enrich_settings(taxonomy_path=taxonomy_b)),
    )


def received(n: int, text: str) -> OutgoingRecord:
    """A detractor's survey answer on raw-feedback, as ingest writes it (prefix added later)."""
    now = datetime.now(UTC)
    external_id = f"re-{n}"
    feedback_id = deterministic_id("shop", external_id)
    payload = FeedbackReceived.model_validate(
        {
            "feedback_id": feedback_id,
            "received_at": now.isoformat(),
            "client_id": "shop",
            "item": {
                "channel": "survey",
                "source_system": "shop",
                "external_id": external_id,
                "customer": {"id": f"customer-{n}", "email": f"c{n}@example.com"},
                "text": text,
                "occurred_at": now.isoformat(),
                # A poor score makes it a complaint whatever the sentiment model says.
                "answers": [{"metric": "nps", "score": 2}],
            },
        }
    )
    envelope = Envelope.wrap(
        payload, event_id=feedback_id, producer="ingest", correlation_id=f"cid-{n}"
    )
    return encode(envelope, key=f"customer-{n}")


async def until(check: Callable[[], Any], *, attempts: int = 300) -> Any:
    """Polls an async check until it returns something truthy (no time is asserted)."""
    result = None
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"never held; last result {result!r}")


async def issues_by_theme(client: httpx.AsyncClient) -> dict[str, list[dict[str, Any]]]:
    """The live (not merged) issues, by theme."""
    body = (await client.get("/v1/issues", params={"limit": 200})).json()
    found: dict[str, list[dict[str, Any]]] = {}
    for issue in body["items"]:
        found.setdefault(issue["theme"], []).append(issue)
    return found


def counts(issues: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[int, int]]:
    """Feedback and customers counted per theme."""
    return {
        theme: (
            sum(i["feedback_count"] for i in found),
            sum(i["distinct_customers"] for i in found),
        )
        for theme, found in issues.items()
    }


def counted(issues: dict[str, list[dict[str, Any]]], theme: str) -> int:
    """Feedback counted in the issues of a theme."""
    return sum(i["feedback_count"] for i in issues.get(theme, []))


@contextlib.asynccontextmanager
async def stage(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Runs an app through its lifespan and yields a client of its API."""
    async with (
        LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app),
            base_url="http://stage",
            headers={"X-API-Key": TEST_API_KEY},
            timeout=30,
        ) as client,
    ):
        yield client


async def test_a_new_theme_and_reprocess_move_items_to_the_right_issues_once(
    enrichers: tuple[Enricher, Enricher],
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    enricher_a, enricher_b = enrichers
    since = datetime.now(UTC) - timedelta(minutes=1)
    common = {"kafka_bootstrap_servers": kafka_bootstrap, "kafka_topic_prefix": topic_prefix}
    texts = SMALL + LONG
    records = [received(n, text) for n, text in enumerate(texts)]
    for r in records:
        await raw_producer.send_and_wait(
            topic_prefix + r.topic, r.value, key=r.key, headers=r.headers
        )
    prioritize = prioritize_app(
        PrioritizeSettings(
            environment="test",
            api_keys=api_keys_json(),
            metrics_port=0,
            log_json=False,
            batch_timeout_ms=50,
            outbox_poll_s=0.1,
            session_timeout_ms=6000,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/prioritize.db",
            **common,
        )
    )
    enriched_topic = topic_prefix + topics.ENRICHED
    async with stage(prioritize) as client:
        async with stage(enrich_app(enrich_settings(**common), enricher=enricher_a)):
            # Taxonomy A has no length theme: every complaint is a sizing one.
            before = await until(
                lambda: _when(issues_by_theme(client), lambda i: counted(i, "sizing_fit") == 6)
            )
        assert set(before) == {"sizing_fit"}

        dry = await reprocess(enrich_settings(**common), enricher_b, since=since, dry_run=True)
        assert (dry.read, dry.reprocessed) == (6, 6)
        assert len(await read_topic(kafka_bootstrap, enriched_topic)) == 6

        first = await reprocess(enrich_settings(**common), enricher_b, since=since)
        assert (first.read, first.reprocessed, first.current, first.failed) == (6, 6, 0, 0)
        after = await until(
            lambda: _when(
                issues_by_theme(client),
                lambda i: counted(i, "fit_length") == 3 and counted(i, "sizing_fit") == 3,
            )
        )
        [length] = after["fit_length"]
        assert (length["feedback_count"], length["distinct_customers"]) == (3, 3)
        assert sum(i["distinct_customers"] for i in after["sizing_fit"]) == 3
        detail = (await client.get(f"/v1/issues/{length['id']}")).json()
        moved = {m["feedback_id"] for m in detail["representative_feedback"]}
        assert moved == {deterministic_id("shop", f"re-{n}") for n in range(3, 6)}

        # Every enriched event names its versions; the new ones carry B's and B's event id.
        events = [orjson.loads(r.value) for r in await read_topic(kafka_bootstrap, enriched_topic)]
        by_versions: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for e in events:
            enrichment = e["payload"]["enrichment"]
            names = ("sentiment_model", "embedding_model", "taxonomy_version")
            by_versions.setdefault(tuple(enrichment[n] for n in names), []).append(e)
        assert {k: len(v) for k, v in by_versions.items()} == {
            enricher_a.versions: 6,
            enricher_b.versions: 6,
        }
        for e in by_versions[enricher_b.versions]:
            assert e["event_id"] == enricher_b.enriched_event_id(e["payload"]["feedback_id"])

        # A second run finds every item already re-analysed and produces nothing.
        second = await reprocess(enrich_settings(**common), enricher_b, since=since)
        assert (second.read, second.reprocessed, second.current, second.already) == (12, 0, 6, 6)
        assert len(await read_topic(kafka_bootstrap, enriched_topic)) == 12
        assert counts(await issues_by_theme(client)) == counts(after)


async def _when(
    read: Any, holds: Callable[[dict[str, list[dict[str, Any]]]], bool]
) -> dict[str, list[dict[str, Any]]] | None:
    """The issues when `holds` is true of them, else None."""
    issues = await read
    return issues if holds(issues) else None
