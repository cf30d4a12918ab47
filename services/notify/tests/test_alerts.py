"""KPI alerts to staff: subscriptions through the API, spikes and digests read from `alerts` on
the test broker, delivered once per subscription by real SMTP (aiosmtpd) and a real HTTP
receiver (Slack-compatible `{"text": ...}`), across a restart; a webhook that never answers
ends as a dead letter on notifications.dlq."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from feedloop.common import topics
from feedloop.common.codec import encode
from feedloop.common.events import (
    DigestKpi,
    DigestScore,
    Envelope,
    SpikeDetected,
    WeeklyDigest,
    deterministic_id,
)
from feedloop.notify.alerts.render import render
from feedloop.notify.alerts.sender import webhook_verdict
from prometheus_client import REGISTRY

from tests.support.clients import send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer, free_port

from .factory import NotifyLoop

pytestmark = [pytest.mark.kafka]
NOW = datetime(2026, 3, 11, 10, tzinfo=UTC)
FAST = {"alert_poll_s": 0.1, "alert_retry_base_s": 0.05, "alert_max_attempts": 2}


def spike(theme: str = "sizing") -> SpikeDetected:
    return SpikeDetected(
        alert_key=f"spike:{theme}:2026-03-11",
        theme=theme,
        day="2026-03-11",
        volume=12,
        baseline_mean=1.0,
        baseline_std=0.5,
        z=22.0,
        threshold_z=2.0,
        detected_at=NOW,
    )


def digest() -> WeeklyDigest:
    nps = DigestKpi(
        name="NPS",
        this_week=DigestScore(value=50.0, responses=4, low=-14.2, high=89.3),
        last_week=DigestScore(value=0.0, responses=2, low=-70.0, high=70.0),
    )
    return WeeklyDigest(
        alert_key="digest:2026-03-02",
        week="2026-03-02",
        since=datetime(2026, 3, 2, tzinfo=UTC),
        until=datetime(2026, 3, 9, tzinfo=UTC),
        kpis=[nps],
        spikes=[spike()],
        built_at=NOW,
    )


async def publish(loop: NotifyLoop, *payloads: SpikeDetected | WeeklyDigest) -> None:
    """Sends alert events on `alerts` as prioritize's outbox relay would."""
    envelopes = [
        Envelope.wrap(
            p,
            event_id=deterministic_id(p.event_type, p.alert_key),
            producer="prioritize",
            correlation_id=p.alert_key,
        )
        for p in payloads
    ]
    await send_all(
        loop.producer, [encode(e, key=e.payload.alert_key, prefix=loop.prefix) for e in envelopes]
    )


async def subscribe(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/v1/alerts/subscriptions", json={"name": "cx"} | body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def statuses(client: httpx.AsyncClient) -> list[tuple[str, str, str]]:
    rows = (await client.get("/v1/alerts/deliveries")).json()
    return sorted((r["subscription_id"], r["alert_key"], r["status"]) for r in rows)


async def test_alerts_reach_each_subscriber_once_by_mail_and_webhook(
    loop: NotifyLoop, smtp: SmtpServer, database_url: str
) -> None:
    hook = loop.receiver.url("slack")
    async with loop.app(database_url, smtp=smtp, **FAST) as client:
        lead = await subscribe(client, channel="email", target="lead@example.com",
                               kinds=["spike", "digest"])  # fmt: skip
        sizing = await subscribe(client, channel="webhook", target=hook, kinds=["spike"],
                                 themes=["sizing"])  # fmt: skip
        await subscribe(client, channel="webhook", target=hook, kinds=["spike"],
                        themes=["delivery"])  # fmt: skip
        await publish(loop, spike(), digest(), spike())  # the spike twice: read again
        await eventually(lambda: len(smtp.handler.accepted) >= 2 and loop.receiver.delivered())
        mails = sorted(smtp.handler.accepted, key=lambda m: m.subject)
        assert [m.to for m in mails] == ["lead@example.com"] * 2
        assert mails[0].subject.startswith("Spike: sizing had 12 items on 2026-03-11")
        assert mails[1].subject == "Weekly digest, week of 2026-03-02: NPS 50 (week before: 0)"
        assert "NPS: 50 [-14.2 .. 89.3, n=4] vs 0 [-70 .. 70, n=2]" in mails[1].text
        assert "http://127.0.0.1:8005/feedback?theme=sizing" in mails[0].text
        hits = loop.receiver.delivered()
        assert len(hits) == 1 and hits[0].body["text"].startswith("*Spike: sizing")
        expected = sorted(
            [
                (lead, "digest:2026-03-02", "delivered"),
                (lead, "spike:sizing:2026-03-11", "delivered"),
                (sizing, "spike:sizing:2026-03-11", "delivered"),
            ]
        )

        async def recorded() -> bool:
            return await statuses(client) == expected

        await eventually(recorded, what="the results recorded")
    # After a restart the same events come again (a replayed topic): nothing is sent twice.
    topic = loop.prefix + topics.ALERTS
    before = consumed(topic)
    async with loop.app(database_url, smtp=smtp, **FAST) as client:
        await publish(loop, spike(), digest())
        await eventually(lambda: consumed(topic) >= before + 2, what="the replay consumed")
        await asyncio.sleep(1.0)  # ten sender polls: time for a wrong repeat to show
        assert await statuses(client) == expected
        assert len(smtp.handler.accepted) == 2 and len(loop.receiver.hits) == 1


def consumed(topic: str) -> float:
    """Records of `topic` notify has processed (its consumer counter, in this process)."""
    value = REGISTRY.get_sample_value(
        "feedloop_consumer_records_total",
        {"service": "notify", "topic": topic, "outcome": "processed"},
    )
    return value or 0.0


async def test_a_webhook_that_never_answers_ends_on_the_dead_letter_topic(
    loop: NotifyLoop, sqlite_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with loop.app(sqlite_url, **FAST) as client:
        sub = await subscribe(client, channel="webhook", target=dead, kinds=["spike"])
        await publish(loop, spike())

        async def failed() -> bool:
            return await statuses(client) == [(sub, "spike:sizing:2026-03-11", "failed")]

        await eventually(failed)
    letters = await read_topic(
        loop.bootstrap,
        loop.prefix + topics.NOTIFICATIONS_DLQ,
        until=lambda rs: len(rs) >= 1,
    )
    assert len(letters) == 1 and b"spike:sizing:2026-03-11" in (letters[0].value or b"")


async def test_subscriptions_are_validated_and_deleted_with_their_deliveries(
    loop: NotifyLoop, sqlite_url: str
) -> None:
    async with loop.app(sqlite_url, **FAST) as client:
        bad = [
            {"channel": "email", "target": "not-an-address", "kinds": ["spike"]},
            {"channel": "webhook", "target": "ftp://example.com/x", "kinds": ["spike"]},
            {"channel": "webhook", "target": "http://x.test/" + "a" * 2000, "kinds": ["spike"]},
            {"channel": "email", "target": "a@example.com", "kinds": []},
            {"channel": "email", "target": "a@example.com", "kinds": ["everything"]},
        ]
        for body in bad:
            refused = await client.post("/v1/alerts/subscriptions", json={"name": "x"} | body)
            assert refused.status_code == 422, body
            assert refused.headers["content-type"].startswith("application/problem+json")
        sub = await subscribe(client, channel="email", target="a@example.com", kinds=["digest"])
        listed = (await client.get("/v1/alerts/subscriptions")).json()
        assert [s["id"] for s in listed] == [sub]
        assert (await client.delete(f"/v1/alerts/subscriptions/{sub}")).status_code == 204
        assert (await client.get("/v1/alerts/subscriptions")).json() == []
        assert (await client.delete(f"/v1/alerts/subscriptions/{sub}")).status_code == 404


def test_the_digest_renders_as_text_and_escaped_html() -> None:
    payload = digest().model_dump(mode="json")
    payload["spikes"][0]["theme"] = "<script>x</script>"
    message = render("digest", payload, console_url="https://cx.example.com/")
    assert message.html is not None and "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "Console: https://cx.example.com/" in message.text
    assert "No open issues." in message.text and "New praise: none" in message.text


async def test_a_subscription_gets_at_most_its_hourly_cap(
    loop: NotifyLoop, sqlite_url: str
) -> None:
    hook = loop.receiver.url("slack")
    async with loop.app(sqlite_url, **FAST, alert_cap_per_hour=1) as client:
        sub = await subscribe(client, channel="webhook", target=hook, kinds=["spike"])
        await publish(loop, spike("sizing"))
        await eventually(loop.receiver.delivered, what="the first spike posted")
        await publish(loop, spike("delivery"))

        async def capped() -> bool:
            return await statuses(client) == [
                (sub, "spike:delivery:2026-03-11", "capped"),
                (sub, "spike:sizing:2026-03-11", "delivered"),
            ]

        await eventually(capped, what="the second one capped")
        assert len(loop.receiver.hits) == 1


def test_webhook_answers_decide_retry_or_failure() -> None:
    assert webhook_verdict(204).verdict == "delivered"
    assert [webhook_verdict(s).verdict for s in (408, 425, 429, 500, 503)] == ["retry"] * 5
    assert [webhook_verdict(s).verdict for s in (400, 401, 404, 410)] == ["permanent"] * 4
