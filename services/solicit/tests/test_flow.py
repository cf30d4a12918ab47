"""Solicit in process on the real broker, SMTP server and webhook receiver.

Touchpoints are invited or skipped (with reasons), invitations arrive by e-mail and webhook,
the survey page takes an answer through its link, and the answer lands once on raw-feedback.
"""

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.auth import hash_key
from feedloop.common.codec import decode
from feedloop.common.events import CustomerErased, CustomerErasureRequested, FeedbackReceived
from feedloop.common.links import LinkSigner, parse_link_keys
from feedloop.common.rights import requested_record
from feedloop.solicit.app import create_app

from tests.support.clients import app_client, send_all
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer, WebhookReceiver

from .conftest import LINK_KEYS, SCOPES, make_settings

LINK = re.compile(r"https?://[^/\s]+(/s/[A-Za-z0-9_.-]+)")
UNSUBSCRIBE = re.compile(r"https?://[^/\s]+(/u/[A-Za-z0-9_.-]+)")


def ago(hours: float) -> str:
    """An RFC 3339 time this many hours ago."""
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def touchpoint(tid: str, cid: str, kind: str = "order.delivered", **extra: Any) -> dict[str, Any]:
    """A touchpoint body as the shop would post it."""
    locale = extra.pop("locale", "de-DE")
    customer = cid
    return {
        "source_system": "shop",
        "touchpoint_id": tid,
        "type": kind,
        "occurred_at": ago(2),
        "customer": {
            "id": customer,
            "email": f"{customer}@example.com",
            "segment": "b2c",
            "locale": locale,
            "time_zone": "Europe/Berlin",
        },
        "order_refs": [f"order-{tid}"],
    } | extra


def decisions(read: dict[str, Any]) -> dict[str, str]:
    """program -> 'invited' or the skip's reason."""
    return {d["program_id"]: d["reason"] or d["outcome"] for d in read["decisions"]}


async def test_touchpoints_become_invitations_answers_and_rates(
    tmp_path: Path,
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    smtp: SmtpServer,
    receiver: WebhookReceiver,
) -> None:
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        smtp_port=smtp.port,
        webhooks={"shop": receiver.url("shop")},
        public_base_url="http://solicit.test",
    )
    async with app_client(create_app(settings), base_url="http://solicit.test") as client:
        invitation_id = await _invited_and_skipped(client)
        mail = await eventually(
            lambda: next((m for m in smtp.handler.accepted if m.customer_id == "c-1"), None),
            what="the invitation e-mail",
        )
        assert mail is not None and mail.kind == "survey.invitation"
        assert mail.subject.startswith("Wie waren wir")
        hook = await eventually(lambda: receiver.delivered(), what="the webhook invitation")
        assert hook[0].verified and hook[0].body["customer_id"] == "c-2"
        assert hook[0].body["survey"]["metric"] == "ces"
        await _answer_once(client, mail.text)
        await _links_expire_and_keep_to_their_purpose(client, invitation_id)
        records = await read_topic(
            kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 1
        )
        assert len(records) == 1 and records[0].key == b"c-1"
        item = decode(records[0].value, accept=[FeedbackReceived]).payload.item
        assert item.channel == "survey" and item.answers[0].score == 9 and item.text == "Schnell!"
        assert item.metadata["program_id"] == "post-delivery-nps"
        assert item.metadata["invitation_id"] == invitation_id
        rates = (await client.get("/v1/response-rates", params={"group_by": "program"})).json()
        nps = next(g for g in rates["groups"] if g["program_id"] == "post-delivery-nps")
        assert (nps["sent"], nps["opened"], nps["answered"]) == (1, 1, 1)
        assert (nps["kpi"]["metric"], nps["kpi"]["value"], nps["kpi"]["answers"]) == ("nps", 100, 1)
        assert 0 < nps["response_rate"]["low"] < 1 == nps["response_rate"]["high"]
        await _unsubscribe_and_erase(client, mail.text)


async def _invited_and_skipped(client: httpx.AsyncClient) -> str:
    """Posts touchpoints; checks each decision; returns c-1's invitation id."""
    first = (await client.post("/v1/touchpoints", json=touchpoint("o-1", "c-1"))).json()
    assert decisions(first) == {"post-delivery-nps": "invited"}
    again = (await client.post("/v1/touchpoints", json=touchpoint("o-1", "c-1"))).json()
    assert again["duplicate"] is True and again["decisions"] == first["decisions"]
    batch = await client.post(
        "/v1/touchpoints/batch",
        json={
            "items": [
                touchpoint("t-1", "c-1", "ticket.solved"),  # c-1 was just invited
                touchpoint("r-1", "c-2", "return.completed"),  # by webhook
                touchpoint("o-old", "c-3", occurred_at=ago(24 * 60)),
                touchpoint("o-x", "c-4", customer={"id": "c-4"}),  # no e-mail address
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert [decisions(i) for i in batch.json()["items"]] == [
        {"ticket-csat": "fatigue"},
        {"return-ces": "invited"},
        {"post-delivery-nps": "too_old"},
        {"post-delivery-nps": "no_address"},
    ]
    invalid = await client.post("/v1/touchpoints", json=touchpoint("o-z", "c-5", type="?"))
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("application/problem+json")
    invitation_id: str = first["decisions"][0]["invitation_id"]
    return invitation_id


async def _answer_once(client: httpx.AsyncClient, mail_text: str) -> None:
    """Opens the survey from the e-mail, answers it; a second answer is refused."""
    survey = LINK.search(mail_text)
    assert survey is not None, mail_text
    page = await client.get(survey.group(1))
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert 'type="radio" name="score" value="10"' in page.text
    bad = await client.post(survey.group(1), data={"score": "11"})
    assert bad.status_code == 422
    answered = await client.post(survey.group(1), data={"score": "9", "comment": "Schnell!"})
    assert answered.status_code == 200 and "Danke" in answered.text
    repeat = await client.post(survey.group(1), data={"score": "3"})
    assert repeat.status_code == 409  # settled at once (answer_settle_s=0): never twice
    forged = survey.group(1)[:-3] + ("AAA" if not survey.group(1).endswith("AAA") else "BBB")
    assert (await client.get(forged)).status_code == 404


async def _links_expire_and_keep_to_their_purpose(
    client: httpx.AsyncClient, invitation_id: str
) -> None:
    yesterday = LinkSigner(parse_link_keys(LINK_KEYS), clock=lambda: time.time() - 86400)
    expired = yesterday.sign(purpose="survey", subject=invitation_id, ttl_s=60)
    assert (await client.get(f"/s/{expired}")).status_code == 410
    signer = LinkSigner(parse_link_keys(LINK_KEYS))
    other = signer.sign(purpose="unsubscribe", subject=invitation_id, ttl_s=60)
    assert (await client.get(f"/s/{other}")).status_code == 404


async def _unsubscribe_and_erase(client: httpx.AsyncClient, mail_text: str) -> None:
    link = UNSUBSCRIBE.search(mail_text)
    assert link is not None
    assert (await client.get(link.group(1))).status_code == 200  # a GET changes nothing
    one_click = await client.post(
        link.group(1),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    later = touchpoint("o-2", "c-1", occurred_at=ago(1))
    assert decisions((await client.post("/v1/touchpoints", json=later)).json()) == {
        "post-delivery-nps": "opted_out"
    }
    erased = await client.delete("/v1/customers/c-2")
    assert erased.json()["invitations_deleted"] == 1
    again = touchpoint("o-3", "c-2")
    assert decisions((await client.post("/v1/touchpoints", json=again)).json()) == {
        "post-delivery-nps": "erased"
    }


async def test_answering_twice_changes_the_answer_and_one_event_carries_the_last(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, smtp: SmtpServer
) -> None:
    settings = make_settings(
        tmp_path,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        smtp_port=smtp.port,
        answer_settle_s=1.5,
    )
    async with app_client(create_app(settings), base_url="http://solicit.test") as client:
        await client.post("/v1/touchpoints", json=touchpoint("o-9", "c-9", locale="fr-BE"))
        mail = await eventually(lambda: smtp.handler.accepted, what="the invitation")
        link = LINK.search(mail[0].text)
        assert link is not None
        first = await client.post(link.group(1), data={"score": "4", "comment": "lent"})
        assert first.status_code == 200 and "modifier" in first.text  # may still change
        page = await client.get(link.group(1))
        assert 'value="4" required checked' in page.text and "lent" in page.text
        second = await client.post(link.group(1), data={"score": "8", "comment": "finalement ok"})
        assert second.status_code == 200
        records = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.RAW_FEEDBACK,
            until=lambda r: len(r) >= 1,
            timeout_s=20,
        )
        late = await client.post(link.group(1), data={"score": "1"})
        assert late.status_code == 409
    again = await read_topic(kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, idle_s=1.0)
    assert len(records) == len(again) == 1
    item = decode(again[0].value, accept=[FeedbackReceived]).payload.item
    assert (item.answers[0].score, item.text) == (8, "finalement ok")


async def test_an_erasure_request_on_customer_requests_erases_and_is_confirmed(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, raw_producer: AIOKafkaProducer
) -> None:
    shop_only = {"client_id": "shop", "key_sha256": hash_key(TEST_API_KEY), "scopes": SCOPES}
    settings = make_settings(
        tmp_path,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        api_keys=orjson.dumps([shop_only | {"source_systems": ["shop"]}]).decode(),
    )
    async with app_client(create_app(settings), base_url="http://solicit.test") as client:
        crm = touchpoint("x", "c", source_system="crm")
        foreign = await client.post("/v1/touchpoints", json=crm)
        assert foreign.status_code == 403 and "crm" in foreign.json()["detail"]
        body = touchpoint("o-e", "c-erase")
        assert decisions((await client.post("/v1/touchpoints", json=body)).json()) == {
            "post-delivery-nps": "invited"
        }
        request = CustomerErasureRequested(
            request_id="req-1",
            customer_id="c-erase",
            requested_at=datetime.now(UTC),
            requested_by="tests",
        )
        await send_all(raw_producer, [requested_record(request, prefix=topic_prefix)])

        def confirmed(records: list[Any]) -> bool:
            return any(r.key == b"c-erase/solicit" for r in records)

        records = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.CUSTOMER_REQUESTS,
            until=confirmed,
            timeout_s=30,
        )
        assert confirmed(records)
        confirmation = next(r for r in records if r.key == b"c-erase/solicit")
        erased = decode(confirmation.value, accept=[CustomerErased]).payload
        assert (erased.service, erased.request_id, erased.counts) == (
            "solicit",
            "req-1",
            {"invitations": 1},
        )
        again = (await client.post("/v1/touchpoints", json=body)).json()
        assert again["duplicate"] is False  # the touchpoint itself was erased
        assert decisions(again) == {"post-delivery-nps": "erased"}
