"""E-mail goes out over a few long-lived SMTP sessions, and a server that ends sessions on its
own still gets every message exactly once."""

from typing import Any

from aiokafka import AIOKafkaProducer

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import notifications_of, settled
from .factory import closed_events, issue, linked, records

CUSTOMERS = 24
CONCURRENCY = 4


def story() -> list[Any]:
    """One feedback item by e-mail from each customer on one issue, then its resolution."""
    links = [
        linked(f"f{n}", "i1", f"c{n}", source="crm", email=f"c{n}@example.com")
        for n in range(CUSTOMERS)
    ]
    return [*links, issue("i1", 1, "resolved", message="Fixed.")]


async def deliver_all(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> list[dict[str, Any]]:
    """Runs the story against the SMTP server; returns the notifications once all are done."""
    options = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "send_concurrency": CONCURRENCY}
    async with app_client(sqlite_url, **options) as client:
        await send_all(raw_producer, records(story(), topic_prefix))

        async def done() -> list[dict[str, Any]] | None:
            items = await notifications_of(client, kind="resolution")
            return items if settled(items, CUSTOMERS) else None

        items: list[dict[str, Any]] = await eventually(done)
        closed = await closed_events(kafka_bootstrap, topic_prefix, expect=CUSTOMERS)
    assert sorted(c.feedback_id for _, c in closed) == sorted(f"f{n}" for n in range(CUSTOMERS))
    return items


def assert_each_customer_got_one_mail(smtp: SmtpServer, items: list[dict[str, Any]]) -> None:
    """Every notification was delivered, and the server accepted exactly one mail for each."""
    assert all(i["outcome"] == "delivered" for i in items)
    expected = {f"<{i['delivery_id']}@notify.feedloop.example>" for i in items}
    got = [mail.message_id for mail in smtp.handler.accepted]
    assert sorted(got) == sorted(expected), "one mail per delivery, none twice"
    assert sorted(m.to for m in smtp.handler.accepted) == sorted(
        f"c{n}@example.com" for n in range(CUSTOMERS)
    )


async def test_many_mails_share_a_few_smtp_sessions_bounded_by_the_send_concurrency(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    items = await deliver_all(
        app_client, sqlite_url, smtp, raw_producer, kafka_bootstrap, topic_prefix
    )
    assert_each_customer_got_one_mail(smtp, items)
    assert len(smtp.handler.sessions) <= CONCURRENCY < CUSTOMERS
    assert all(i["attempts"] == 1 for i in items)


async def test_a_server_that_allows_one_message_per_session_gets_each_mail_once_first_time(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    smtp.handler.one_message_per_session = True
    items = await deliver_all(
        app_client, sqlite_url, smtp, raw_producer, kafka_bootstrap, topic_prefix
    )
    assert_each_customer_got_one_mail(smtp, items)
    assert smtp.handler.refused_as_closing >= 1, "sessions were reused and turned away"
    assert len(smtp.handler.sessions) == CUSTOMERS
    assert all(i["attempts"] == 1 for i in items), "a closed session costs no attempt"


async def test_a_server_that_hangs_up_after_each_message_gets_each_mail_exactly_once(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    smtp.handler.hang_up_after_data = True
    items = await deliver_all(
        app_client, sqlite_url, smtp, raw_producer, kafka_bootstrap, topic_prefix
    )
    assert_each_customer_got_one_mail(smtp, items)
    assert smtp.handler.attempts == CUSTOMERS
    assert all(i["attempts"] == 1 for i in items)


async def test_a_recipient_refused_for_good_fails_at_once_and_the_next_mails_still_go(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    smtp.handler.script.extend(["250 OK", "250 OK", "550 5.1.1 No such mailbox"])
    options = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "send_concurrency": 1}
    async with app_client(sqlite_url, **options) as client:
        await send_all(raw_producer, records(story(), topic_prefix))

        async def done() -> list[dict[str, Any]] | None:
            items = await notifications_of(client, kind="resolution")
            return items if settled(items, CUSTOMERS) else None

        items: list[dict[str, Any]] = await eventually(done)
    (failed,) = [i for i in items if i["outcome"] == "failed"]
    assert failed["attempts"] == 1 and "550" in failed["last_error"]
    assert sum(i["outcome"] == "delivered" for i in items) == CUSTOMERS - 1
    assert len(smtp.handler.accepted) == CUSTOMERS - 1
    assert smtp.handler.attempts == CUSTOMERS, "the refused one was tried once"
