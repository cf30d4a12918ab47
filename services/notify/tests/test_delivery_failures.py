"""Receivers that fail (500s, timeouts, refused connections, SMTP errors) get the message once
they recover; receivers that keep failing send it to notifications.dlq, visible by API."""

from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import header

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer, WebhookReceiver

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked, records, systems

MESSAGE = "Fixed: the checkout no longer times out."


def resolved(customer: str = "c1", **link: Any) -> list[Any]:
    """One feedback item on an issue, then the issue resolved."""
    return [linked("f1", "i1", customer, **link), issue("i1", 1, "resolved", message=MESSAGE)]


async def only(client: httpx.AsyncClient) -> dict[str, Any]:
    """The one resolution notification of the test."""
    (item,) = await notifications_of(client, kind="resolution")
    return item


async def outcome_is(client: httpx.AsyncClient, outcome: str) -> bool:
    items = await notifications_of(client, kind="resolution")
    return bool(items) and items[0]["outcome"] == outcome


async def test_500s_and_a_timeout_are_retried_until_the_receiver_takes_the_message(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    loop.receiver.script.extend([500, 503, 1.5])  # the third answers after the client gave up
    async with loop.app_client(
        sqlite_url, source_systems=systems(loop.receiver, "shop", timeout_s=0.5)
    ) as client:
        await loop.send(resolved())
        await eventually(lambda: outcome_is(client, "delivered"))
        item = await only(client)
        closed = await loop.closed(expect=1)
    assert [h.status for h in loop.receiver.hits] == [500, 503, 200, 200]
    assert {h.key for h in loop.receiver.hits} == {item["delivery_id"]}, (
        "one key: the receiver dedupes"
    )
    assert item["attempts"] == 4
    assert [(c.feedback_id, c.outcome) for _, c in closed] == [("f1", "delivered")]


async def test_refused_connections_are_retried_until_the_receiver_comes_up(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    receiver = WebhookReceiver(secret="test-webhook-secret")  # not listening yet
    async with app_client(
        sqlite_url, source_systems=systems(receiver, "shop"), max_attempts=50
    ) as client:
        await send_all(raw_producer, records(resolved(), topic_prefix))

        async def refused_twice() -> bool:
            items = await notifications_of(client, kind="resolution")
            return bool(items) and items[0]["attempts"] >= 2 and "Connect" in items[0]["last_error"]

        await eventually(refused_twice)
        await receiver.start()
        try:
            await eventually(lambda: outcome_is(client, "delivered"))
        finally:
            await receiver.stop()
    assert len(receiver.hits) == 1 and receiver.hits[0].verified


async def test_an_smtp_server_down_then_deferring_gets_the_mail_once_it_recovers(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    smtp.stop()
    smtp.handler.script.append("451 4.3.0 Try again later")
    async with app_client(
        sqlite_url, smtp_host="127.0.0.1", smtp_port=smtp.port, max_attempts=50
    ) as client:
        await send_all(
            raw_producer, records(resolved(source="crm", email="c1@example.com"), topic_prefix)
        )

        async def tried_twice() -> bool:
            items = await notifications_of(client, kind="resolution")
            return bool(items) and items[0]["attempts"] >= 2

        await eventually(tried_twice)
        smtp.start()
        await eventually(lambda: outcome_is(client, "delivered"))
        item = await only(client)
    assert smtp.handler.attempts == 2, "one deferred (451), one accepted"
    (mail,) = smtp.handler.accepted
    assert mail.message_id == f"<{item['delivery_id']}@notify.feedloop.example>"


async def test_a_receiver_that_keeps_failing_dead_letters_the_notification_after_n_attempts(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    loop.receiver.default = 500
    async with loop.app(sqlite_url, max_attempts=3) as client:
        await loop.send(resolved())
        await eventually(lambda: outcome_is(client, "failed"))
        failed = (await client.get("/v1/notifications/failed")).json()
        dead = await read_topic(
            loop.bootstrap, loop.prefix + topics.NOTIFICATIONS_DLQ, until=lambda rs: len(rs) >= 1
        )
        closed = await loop.closed(expect=1)

        # The receiver is fixed; an operator resends it.
        loop.receiver.default = 200
        item = failed["items"][0]
        response = await client.post(f"/v1/notifications/{item['id']}/resend")
        assert response.status_code == 202, response.text
        await eventually(lambda: outcome_is(client, "delivered"))
        again = await client.post(f"/v1/notifications/{item['id']}/resend")
        closed_after = await loop.closed(expect=1)

    assert failed["total"] == 1
    assert item["attempts"] == 3 and "HTTP 500" in item["last_error"]
    assert len(loop.receiver.hits) == 4 and {h.key for h in loop.receiver.hits} == {
        item["delivery_id"]
    }
    (record,) = dead
    assert header(record.headers, topics.HEADER_DLQ_REASON) == "delivery_failed"
    assert "HTTP 500" in (header(record.headers, topics.HEADER_DLQ_ERROR) or "")
    assert [(c.feedback_id, c.outcome) for _, c in closed] == [("f1", "failed")]
    assert again.status_code == 409, "a delivered notification is never sent twice"
    assert len(closed_after) == 1, "the feedback item was closed once, when it failed"


async def test_a_receiver_refusing_the_message_with_a_400_fails_it_without_retrying(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    loop.receiver.default = 422
    async with loop.app(sqlite_url) as client:
        await loop.send(resolved())
        await eventually(lambda: outcome_is(client, "failed"))
        item = await only(client)
    assert item["attempts"] == 1 and "HTTP 422" in item["last_error"]
