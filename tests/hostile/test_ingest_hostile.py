"""Hostile and careless HTTP clients against a real ingest process on the real test broker.

Every nasty item is answered 4xx problem+json naming the offending field, or 202 and then
valid on raw-feedback; nothing is ever answered 5xx.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from feedloop.common.events import Envelope, FeedbackReceived

from tests.e2e.platform import Platform
from tests.hostile.ingest_fixtures import KEYS_BUDGET_BYTES, SOURCE_SYSTEM, ingest_platform
from tests.support.items import survey_item
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY

__all__ = ["ingest_platform"]

pytestmark = pytest.mark.kafka

ACCEPT = "accepted"
PLACEHOLDER = "@@RAW@@"


def item(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid survey item; each case changes one thing."""
    fields = {"text": "The jeans run small.", "source_system": SOURCE_SYSTEM} | overrides
    return survey_item(f"hostile-{name}", customer_id=f"c-{name}", **fields)


def review(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid store review; each case changes one thing."""
    base = {k: v for k, v in item(name).items() if k != "answers"}
    return base | {"channel": "review", "rating": 4, "platform": "shop"} | overrides


def raw(name: str, json_literal: bytes, **overrides: Any) -> bytes:
    """An item's JSON with PLACEHOLDER replaced by a literal no JSON encoder would write."""
    body = orjson.dumps(item(name, **overrides))
    return body.replace(orjson.dumps(PLACEHOLDER), json_literal)


def nested(depth: int) -> Any:
    """A value nested `depth` levels deep."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"n": value}
    return value


@dataclass(frozen=True)
class Case:
    """A nasty request body and what ingest must answer: ACCEPT, or the field it names."""

    name: str
    body: dict[str, Any] | bytes
    expect: str

    def content(self) -> bytes:
        """The request body as sent."""
        return self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)


def future(**delta: float) -> str:
    """An RFC 3339 time that far ahead of now."""
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


CASES = [
    Case("text-1mb", item("text-1mb", text="a" * 1_000_000), "text"),
    Case("text-64kb", item("text-64kb", text="x" * 65_536), "text"),
    Case("text-at-limit-multibyte", item("text-at-limit", text="é" * 20_000), ACCEPT),
    Case("nul-in-text", item("nul", text="bad\x00text"), "text"),
    Case("bell-in-text", item("bell", text="ding\x07"), "text"),
    Case("c1-control-in-text", item("c1", text="next\x85line"), "text"),
    Case(
        "escape-in-segment", item("esc", customer={"id": "c-e", "segment": "\x1b[31m"}), "customer"
    ),
    Case("newlines-and-tabs", item("nl", text="line one\n\tline two\r\nthree"), ACCEPT),
    Case("lone-high-surrogate", raw("sur-hi", b'"a \\ud800 b"', text=PLACEHOLDER), "text"),
    Case(
        "lone-low-surrogate-in-metadata",
        raw("sur-lo", b'{"k": "\\udc00"}', metadata=PLACEHOLDER),
        "metadata",
    ),
    Case(
        "rtl-override",
        item("rtl", text="\u202eevil.exe\u202c is what I got \u05e9\u05dc\u05d5\u05dd"),
        ACCEPT,
    ),
    Case("zero-width", item("zw", text="sm\u200ball\u200d si\ufeffzes\u2060"), ACCEPT),
    Case("emoji-only", item("emoji", text="😡👖📏❌👎🏽🏳️‍🌈"), ACCEPT),
    Case(
        "html-script",
        item("html", text="<script>alert(1)</script><img src=x onerror=alert(1)>"),
        ACCEPT,
    ),
    Case("sql-text", item("sql", text="'; DROP TABLE feedback; -- ' OR 1=1"), ACCEPT),
    Case("sql-external-id", item("sql-id", external_id="1' OR '1'='1"), "external_id"),
    Case("deeply-nested-metadata", item("deep", metadata={"a": nested(50)}), "metadata"),
    Case("huge-metadata", item("huge", metadata={"k": "v" * 100_000}), "metadata"),
    Case(
        "many-keys-metadata", item("keys", metadata={f"k{i}": i for i in range(3000)}), "metadata"
    ),
    Case("arr-1e308", item("arr", customer={"id": "c-arr", "value": {"arr": 1e308}}), "customer"),
    Case("metadata-1e308", item("meta-big", metadata={"x": 1e308}), "metadata"),
    Case(
        "metadata-huge-int",
        raw("meta-int", b'{"x": 123456789012345678901234567890}', metadata=PLACEHOLDER),
        "metadata",
    ),
    Case("rating-1e308", review("rating", rating=1e308), "rating"),
    Case(
        "nan-score", raw("nan", b"NaN", answers=[{"metric": "nps", "score": PLACEHOLDER}]), "(body)"
    ),
    Case(
        "infinity-arr",
        raw("inf", b"Infinity", customer={"id": "c-inf", "value": {"arr": PLACEHOLDER}}),
        "(body)",
    ),
    Case(
        "overflowing-float",
        raw("ovf", b"1e400", customer={"id": "c-ovf", "value": {"arr": PLACEHOLDER}}),
        "customer",  # the stdlib reads it as inf; the field refuses it,
    ),
    Case("text-as-number", item("num", text=42), "text"),
    Case("customer-as-string", item("cust", customer="ana"), "customer"),
    Case("answers-as-object", item("ans", answers={"metric": "nps", "score": 3}), "answers"),
    Case(
        "score-as-string-list", item("sc", answers=[{"metric": "nps", "score": ["9"]}]), "answers"
    ),
    Case("locale-overlong", item("loc", locale="en-" + "-".join(["abcdefgh"] * 10)), "locale"),
    Case(
        "locale-36-chars",
        item("loc36", locale="en-" + "-".join(["abcdefg"] * 4) + "-abc"),
        "locale",
    ),
    Case("future-occurred-at", item("fut", occurred_at=future(days=1)), "occurred_at"),
    Case("year-9999", item("y9999", occurred_at="9999-12-31T23:59:59Z"), "occurred_at"),
    Case("other-source-system", item("other", source_system="crm"), "source_system"),
    Case("not-an-object", orjson.dumps([item("list")]), "(body)"),
    Case("deeply-nested-json", b"[" * 100_000 + b"]" * 100_000, "(body)"),
    Case("invalid-utf8", b'{"text": "\xff\xfe"}', "(body)"),
    Case("empty-body", b"", "(body)"),
]


def fields_named(problem: dict[str, Any]) -> list[str]:
    """Every field a problem names (its own and its per-field errors)."""
    named = [problem.get("field", "")]
    named += [e.get("field", "") for e in problem.get("errors", [])]
    return [n for n in named if n]


def names(problem: dict[str, Any], field: str) -> bool:
    """True when the problem names the field (or a part of it)."""
    return any(n == field or n.startswith(field + ".") for n in fields_named(problem))


async def post(client: httpx.AsyncClient, path: str, content: bytes) -> httpx.Response:
    """Posts raw bytes as JSON with the test key."""
    return await client.post(
        path,
        content=content,
        headers={"Content-Type": "application/json", "X-API-Key": TEST_API_KEY},
    )


def assert_answer(case: Case, response: httpx.Response) -> None:
    """4xx problem+json naming the field, or 202 as expected; never 5xx."""
    assert response.status_code < 500, (case.name, response.status_code, response.text[:500])
    if case.expect == ACCEPT:
        assert response.status_code == 202, (case.name, response.text[:500])
        return
    assert 400 <= response.status_code < 500, (case.name, response.status_code)
    assert response.headers["content-type"] == "application/problem+json", case.name
    assert names(response.json(), case.expect), (case.name, response.text[:500])


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


async def test_every_nasty_item_is_refused_naming_its_field_or_accepted_valid(
    ingest_platform: Platform, kafka_bootstrap: str
) -> None:
    ingest = ingest_platform.processes["ingest"]
    async with httpx.AsyncClient(base_url=ingest.url, timeout=60) as client:
        for case in CASES:
            assert_answer(case, await post(client, "/v1/feedback", case.content()))
    accepted = {
        c.body["external_id"] for c in CASES if isinstance(c.body, dict) and c.expect == ACCEPT
    }
    records = await read_topic(
        kafka_bootstrap,
        ingest_platform.topic("raw-feedback"),
        until=lambda got: len(got) >= len(accepted),
    )
    # Each record on the topic is a valid event carrying exactly what was accepted.
    events = [Envelope[FeedbackReceived].model_validate_json(r.value or b"") for r in records]
    texts = {e.payload.item.external_id: e.payload.item.text for e in events}
    sent = {
        c.body["external_id"]: c.body["text"].strip()
        for c in CASES
        if isinstance(c.body, dict) and c.expect == ACCEPT
    }
    assert {k: v for k, v in texts.items() if k in accepted} == sent


async def test_the_batch_route_judges_the_same_items_the_same_way(
    ingest_platform: Platform,
) -> None:
    objects = [c for c in CASES if isinstance(c.body, dict)]
    # Fresh external ids (the single route took the originals), but the malformed one.
    batch = {
        "items": [
            c.body if c.expect == "external_id" else c.body | {"external_id": f"batch-{i}"}
            for i, c in enumerate(objects)
        ]
    }
    ingest = ingest_platform.processes["ingest"]
    async with httpx.AsyncClient(base_url=ingest.url, timeout=60) as client:
        response = await post(client, "/v1/feedback/batch", orjson.dumps(batch))
    assert response.status_code == 207, response.text[:500]
    results = response.json()["results"]
    for case, result in zip(objects, results, strict=True):
        if case.expect == ACCEPT:
            assert result["status"] == "accepted", (case.name, result)
        else:
            assert result["status"] == "rejected", (case.name, result)
            assert names({"errors": result["errors"]}, case.expect), (case.name, result)


async def test_a_flood_of_unique_idempotency_keys_keeps_the_store_within_its_budget(
    ingest_platform: Platform,
) -> None:
    ingest = ingest_platform.processes["ingest"]
    body = orjson.dumps(item("flood"))
    async with httpx.AsyncClient(base_url=ingest.url, timeout=60) as client:
        for n in range(1500):
            response = await client.post(
                "/v1/feedback",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-API-Key": TEST_API_KEY,
                    "Idempotency-Key": f"flood-{n:06d}-" + "k" * 150,
                },
            )
            assert response.status_code in (200, 202), response.text
        metrics = (await client.get(ingest.metrics_url + "/metrics")).text
    entries = gauge(metrics, "feedloop_ingest_idempotency_entries", "keys")
    held = gauge(metrics, "feedloop_ingest_idempotency_bytes", "keys")
    assert held <= KEYS_BUDGET_BYTES
    # Full, not trivially small: the oldest keys were evicted to stay within the budget.
    assert held >= 0.8 * KEYS_BUDGET_BYTES
    assert 100 <= entries < 1500


def gauge(metrics: str, name: str, kind: str) -> float:
    """The value of a labelled gauge in Prometheus text."""
    prefix = f'{name}{{kind="{kind}"}} '
    line = next(line for line in metrics.splitlines() if line.startswith(prefix))
    return float(line[len(prefix) :])


async def test_metrics_are_served_apart_from_the_api(ingest_platform: Platform) -> None:
    ingest = ingest_platform.processes["ingest"]
    async with httpx.AsyncClient(timeout=10) as client:
        on_api = await client.get(ingest.url + "/metrics")
        apart = await client.get(ingest.metrics_url + "/metrics")
    assert on_api.status_code == 404
    assert apart.status_code == 200 and "feedloop_http_requests_total" in apart.text
