"""Solicit as real processes on loopback: a few hundred customers through the real broker.

The done-when story of issue 17: touchpoints for 300 customers are invited or skipped (fatigue,
opt-out, erasure, age, address), customers answer through the hosted page over real HTTP, the
answers land on raw-feedback (and, with enrich and prioritize running, on `prioritized`) and are
counted in the response rates. Then the sender is killed (-9) mid-batch beside a second replica:
each (program, touchpoint) still has one invitation, and receivers that drop repeats by the
message key hold exactly one message per invitation.
"""

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackPrioritized, FeedbackReceived
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.fixtures import needs, platform
from tests.e2e.platform import Platform
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY, api_keys_json
from tests.support.polling import eventually
from tests.support.receivers import HOST, SmtpServer, WebhookReceiver

from .conftest import LINK_KEYS, SCOPES, SECRET, programs_file

__all__ = ["platform"]
pytestmark = [pytest.mark.kafka, pytest.mark.slow]
LINK = re.compile(r"https?://[^/\s]+(/s/[A-Za-z0-9_.-]+)")
HEADERS = {"X-API-Key": TEST_API_KEY}


def ago(hours: float) -> str:
    """An RFC 3339 time this many hours ago."""
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def touchpoint(
    tid: str, cid: str, kind: str, *, email: bool = True, hours: float = 2
) -> dict[str, Any]:
    """One touchpoint of the shop."""
    customer: dict[str, Any] = {"id": cid, "segment": "smb" if cid.endswith("7") else "b2c"}
    if email:
        customer["email"] = f"{cid}@example.com"
    return {
        "source_system": "shop",
        "touchpoint_id": tid,
        "type": kind,
        "occurred_at": ago(hours),
        "customer": customer | {"locale": "en-GB", "time_zone": "Europe/London"},
    }


def solicit_env(platform: Platform, tmp_path: Path, **more: str) -> dict[str, str]:
    """Solicit's settings for the processes of one test."""
    p = "FEEDLOOP_SOLICIT_"
    env = {
        p + "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'solicit.db'}",
        p + "LINK_KEYS": LINK_KEYS,
        p + "PROGRAMS_FILE": programs_file(tmp_path),
        p + "WEBHOOK_SIGNING_SECRET": SECRET,
        p + "SMTP_SECURITY": "none",
        p + "SMTP_HOST": HOST,
        p + "SEND_POLL_S": "0.2",
        p + "OUTBOX_POLL_S": "0.1",
        p + "BACKOFF_BASE_S": "0.2",
        p + "BACKOFF_MAX_S": "1",
        p + "ANSWER_SETTLE_S": "0",
        p + "API_KEYS": api_keys_json(*SCOPES),
        p + "CONSUMER_GROUP": platform.prefix + "feedloop-solicit",
        p + "SESSION_TIMEOUT_MS": "6000",
        p + "BATCH_TIMEOUT_MS": "50",
    }
    return env | {p + k: v for k, v in more.items()}


async def post_batches(url: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Posts touchpoints 100 at a time; returns every item's decisions."""
    reads: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as client:
        for start in range(0, len(items), 100):
            response = await client.post(
                "/v1/touchpoints/batch", json={"items": items[start : start + 100]}
            )
            assert response.status_code == 200, response.text
            reads.extend(response.json()["items"])
    return reads


def outcome_counts(reads: list[dict[str, Any]]) -> Counter[str]:
    """How many (program, touchpoint) were invited, or skipped for each reason."""
    return Counter(d["reason"] or d["outcome"] for r in reads for d in r["decisions"])


@needs("enrich", "prioritize")
async def test_three_hundred_customers_invited_skipped_answered_and_counted(
    platform: Platform, tmp_path: Path
) -> None:
    smtp = SmtpServer()
    smtp.start()
    try:
        await _story(platform, tmp_path, smtp)
    finally:
        smtp.stop()


async def _story(platform: Platform, tmp_path: Path, smtp: SmtpServer) -> None:
    platform.extra_env["solicit"] = solicit_env(platform, tmp_path, SMTP_PORT=str(smtp.port))
    await platform.start("enrich", "prioritize", "solicit")
    url = platform.processes["solicit"].url
    ids = [f"c-{i:03d}" for i in range(300)]
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as client:
        for cid in ids[:20]:
            assert (await client.post(f"/v1/customers/{cid}/opt-out")).status_code == 204
        for cid in ids[20:30]:
            assert (await client.delete(f"/v1/customers/{cid}")).status_code == 200
    deliveries = [
        touchpoint(
            f"o-{cid}",
            cid,
            "order.delivered",
            email=not 30 <= i < 45,
            hours=400 if 45 <= i < 55 else 2,
        )
        for i, cid in enumerate(ids)
    ]
    tickets = [touchpoint(f"t-{cid}", cid, "ticket.solved") for cid in ids[250:]]
    reads = await post_batches(url, deliveries + tickets)
    assert outcome_counts(reads) == Counter(
        invited=245, opted_out=20, erased=10, no_address=15, too_old=10, fatigue=50
    )
    invited = {d["invitation_id"] for r in reads for d in r["decisions"] if d["invitation_id"]}
    await eventually(
        lambda: (
            {m.idempotency_key for m in smtp.handler.accepted}
            >= {f"{i}.invitation" for i in invited}
        ),
        timeout_s=60,
        what="every invitation e-mail",
        context=platform.tails,
    )
    answered = await _answer(url, smtp, 40)
    await _one_reminder_each(platform, smtp, invited - set(answered), invited)
    received = await read_topic(
        platform.bootstrap, platform.topic(topics.RAW_FEEDBACK), until=lambda r: len(r) >= 40
    )
    events = [decode(r.value, accept=[FeedbackReceived]) for r in received]
    assert sorted(e.payload.item.metadata["invitation_id"] for e in events) == sorted(answered)
    feedback_ids = {e.payload.feedback_id for e in events}
    assert len(feedback_ids) == 40
    prioritized = await read_topic(
        platform.bootstrap,
        platform.topic(topics.PRIORITIZED),
        timeout_s=120,
        until=lambda r: len(_prioritized_ids(r) & feedback_ids) == 40,
    )
    assert _prioritized_ids(prioritized) >= feedback_ids, platform.tails()
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as client:
        rates = (await client.get("/v1/response-rates", params={"group_by": "segment"})).json()
    assert (rates["total"]["sent"], rates["total"]["opened"], rates["total"]["answered"]) == (
        len(invited),
        40,
        40,
    )
    assert {g["segment"] for g in rates["groups"]} == {"b2c", "smb"}


async def _one_reminder_each(
    platform: Platform, smtp: SmtpServer, unanswered: set[str], invited: set[str]
) -> None:
    """One reminder (reminder_after_s: 1) for each invitation not answered before it was due."""
    due = {f"{i}.reminder" for i in unanswered}
    await eventually(
        lambda: {m.idempotency_key for m in smtp.handler.accepted} >= due,
        timeout_s=60,
        what="a reminder for every unanswered invitation",
        context=platform.tails,
    )
    mails = smtp.handler.accepted
    reminders = Counter(m.idempotency_key for m in mails if m.kind == "survey.reminder")
    assert set(reminders) <= {f"{i}.reminder" for i in invited}
    assert max(reminders.values()) == 1


def _age(i: int) -> float:
    return 400 if 45 <= i < 55 else 2


def _prioritized_ids(records: list[Any]) -> set[str]:
    ids = set()
    for record in records:
        with_type = dict(record.headers or [])
        if with_type.get(topics.HEADER_TYPE) == FeedbackPrioritized.event_type.encode():
            event = decode(record.value, accept=[FeedbackPrioritized])
            ids.add(event.payload.feedback.feedback_id)
    return ids


async def _answer(url: str, smtp: SmtpServer, n: int) -> list[str]:
    """Opens and answers n surveys over real HTTP, as customers' browsers would."""
    answered = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
        invitations = [m for m in smtp.handler.accepted if m.kind == "survey.invitation"]
        for i, mail in enumerate(invitations[:n]):
            link = LINK.search(mail.text)
            assert link is not None, mail.text
            page = await browser.get(link.group(1))
            assert page.status_code == 200 and 'lang="en"' in page.text
            form = {"score": str(i % 11), "comment": "Delivery was late" if i % 3 else ""}
            thanks = await browser.post(link.group(1), data=form)
            assert thanks.status_code == 200, thanks.text
            answered.append(mail.idempotency_key.removesuffix(".invitation"))
    return answered


async def test_sender_killed_mid_batch_beside_a_replica_sends_each_invitation_once_per_key(
    platform: Platform, tmp_path: Path, database_url: str
) -> None:
    url = database_url  # the store both replicas share: one SQLite file, or one PostgreSQL db
    receiver = WebhookReceiver(secret=SECRET, delay_s=0.05)
    await receiver.start()
    try:
        await _kill_mid_batch(platform, tmp_path, receiver, url)
    finally:
        await receiver.stop()


async def _kill_mid_batch(
    platform: Platform, tmp_path: Path, receiver: WebhookReceiver, database_url: str
) -> None:
    platform.extra_env["solicit"] = solicit_env(
        platform,
        tmp_path,
        DATABASE_URL=database_url,
        WEBHOOKS=orjson.dumps({"shop": receiver.url("shop")}).decode(),
        SEND_BATCH="20",
        SEND_CONCURRENCY="4",
        LEASE_S="8",
        WEBHOOK_TIMEOUT_S="3",
        SMTP_TIMEOUT_S="3",
    )
    await platform.start("solicit")
    await platform.add_replica("solicit")
    items = [touchpoint(f"r-{i}", f"k-{i:03d}", "return.completed") for i in range(300)]
    reads = await post_batches(platform.processes["solicit"].url, items)
    invited = {d["invitation_id"] for r in reads for d in r["decisions"] if d["invitation_id"]}
    assert len(invited) == 300
    await eventually(lambda: len(receiver.hits) >= 40, timeout_s=60, what="40 webhooks")
    platform.processes["solicit"].kill9()
    at_kill = len(receiver.hits)
    assert at_kill < 300, "the kill came after the last batch: nothing was mid-batch"
    expected = {f"{i}.invitation" for i in invited}
    await eventually(
        lambda: {h.key for h in receiver.delivered()} >= expected,
        timeout_s=90,
        what="every invitation delivered",
        context=platform.tails,
    )
    await platform.restart("solicit")  # the killed replica comes back: nothing is sent again
    settled = len(receiver.hits)
    await asyncio.sleep(3)
    keys = Counter(h.key for h in receiver.delivered())
    assert len(receiver.hits) == settled and set(keys) == expected
    repeats = sum(keys.values()) - len(keys)
    print(f"kill -9 after {at_kill} webhooks: 300 invitations, {repeats} repeated deliveries")
    assert repeats <= 4  # at most the killed sender's messages in flight (SEND_CONCURRENCY)
    assert await _invitation_rows(database_url) == (300, 300, {"sent": 300})


async def _invitation_rows(database_url: str) -> tuple[int, int, dict[str, int]]:
    """Rows, distinct (program, touchpoint) pairs and rows per stage of the invitation table."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            pairs = "count(DISTINCT program_id || '/' || touchpoint_id)"
            rows, distinct = (
                await conn.execute(text(f"SELECT count(*), {pairs} FROM invitation"))
            ).one()
            stages = await conn.execute(
                text("SELECT stage, count(*) FROM invitation GROUP BY stage")
            )
            return int(rows), int(distinct), {str(s): int(n) for s, n in stages.all()}
    finally:
        await engine.dispose()
