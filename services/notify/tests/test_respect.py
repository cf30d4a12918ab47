"""Customers who opted out, reached their daily cap or asked for erasure are not contacted;
their feedback is still closed, with that outcome."""

from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.notify.models import customer_t
from sqlalchemy import select

from tests.support.clients import AppClient, send_all
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import notifications_of
from .factory import NotifyLoop, closed_events, issue, linked, records


async def _settled(client: httpx.AsyncClient, n: int) -> list[dict[str, Any]]:
    items = await notifications_of(client, kind="resolution")
    return items if len(items) == n and all(i["outcome"] for i in items) else []


async def test_opted_out_customers_are_not_contacted_and_their_feedback_closes_as_opted_out(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    async with loop.app(sqlite_url) as client:
        for customer, channel in (("no-webhooks", "webhook"), ("nothing", "all")):
            response = await client.put(
                f"/v1/customers/{customer}/preferences", json={"opted_out": {channel: True}}
            )
            assert response.status_code == 200, response.text
        # Opted out of e-mail only: the webhook is still fine.
        await client.put("/v1/customers/no-mail/preferences", json={"opted_out": {"email": True}})
        prefs = (await client.get("/v1/customers/nothing/preferences")).json()
        events = [
            linked("f1", "i1", "no-webhooks"),
            linked("f2", "i1", "nothing"),
            linked("f3", "i1", "no-mail"),
            issue("i1", 1, "resolved", message="Fixed."),
        ]
        await loop.send(events)
        items = await eventually(lambda: _settled(client, 3))
        closed = await loop.closed(expect=3)
    assert prefs == {
        "customer_id": "nothing",
        "opted_out": {"webhook": False, "email": False, "all": True},
        "erased": False,
    }
    assert {i["customer_id"]: i["outcome"] for i in items} == {
        "no-webhooks": "opted_out",
        "nothing": "opted_out",
        "no-mail": "delivered",
    }
    assert [h.body["customer_id"] for h in loop.receiver.hits] == ["no-mail"]
    assert sorted((c.feedback_id, c.outcome) for _, c in closed) == [
        ("f1", "opted_out"),
        ("f2", "opted_out"),
        ("f3", "delivered"),
    ]


async def test_a_customer_over_the_daily_cap_gets_no_more_messages_that_day(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    events = [
        *(linked(f"f{n}", f"i{n}", "busy") for n in range(3)),
        linked("f9", "i0", "other"),
        *(issue(f"i{n}", 1, "resolved", message=f"Fixed {n}.") for n in range(3)),
    ]
    async with loop.app(sqlite_url, daily_cap=2) as client:
        await loop.send(events)
        items = await eventually(lambda: _settled(client, 4))
        closed = await loop.closed(expect=4)
    busy = sorted(i["outcome"] for i in items if i["customer_id"] == "busy")
    assert busy == ["capped", "delivered", "delivered"]
    assert [i["outcome"] for i in items if i["customer_id"] == "other"] == ["delivered"]
    assert sum(h.body["customer_id"] == "busy" for h in loop.receiver.hits) == 2
    assert sorted(c.outcome for _, c in closed) == ["capped", "delivered", "delivered", "delivered"]


async def erase_once_acknowledged(client: httpx.AsyncClient) -> tuple[Any, Any]:
    """Waits for "gone"'s acknowledgement, then erases "gone" twice; returns both answers."""

    async def acknowledged() -> list[dict[str, Any]]:
        items = await notifications_of(client, customer_id="gone")
        return [i for i in items if i["outcome"] == "delivered"]

    await eventually(acknowledged)
    erased = await client.delete("/v1/customers/gone")
    assert erased.status_code == 200, erased.text
    again = await client.delete("/v1/customers/gone")
    return erased.json(), again.json()


async def gone_customer_row(client: httpx.AsyncClient) -> Any:
    """The stored customer row of "gone"."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return (await conn.execute(select(customer_t).where(customer_t.c.id == "gone"))).one()


async def test_an_erased_customer_keeps_no_contact_data_and_is_never_notified_again(
    app_client: AppClient,
    sqlite_url: str,
    smtp: SmtpServer,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    before = [
        linked("f1", "i1", "gone", source="crm", email="gone@example.com", nps=1),
        linked("f2", "i1", "stays", source="crm", email="stays@example.com"),
    ]
    # Fresh feedback of the erased customer still names their address: not stored.
    after = [
        linked("f3", "i1", "gone", source="crm", email="gone@example.com"),
        issue("i1", 1, "resolved", message="Fixed."),
    ]
    async with app_client(sqlite_url, smtp_host="127.0.0.1", smtp_port=smtp.port) as client:
        await send_all(raw_producer, records(before, topic_prefix))
        erased, again = await erase_once_acknowledged(client)
        await send_all(raw_producer, records(after, topic_prefix))
        items = await eventually(lambda: _settled(client, 3))
        closed = await closed_events(kafka_bootstrap, topic_prefix, expect=3)
        stored = await gone_customer_row(client)
        prefs = (await client.get("/v1/customers/gone/preferences")).json()
    assert again["erased_at"] == erased["erased_at"], "erasure is idempotent"
    assert (stored.email, stored.locale) == (None, None) and stored.erased_at is not None
    assert prefs["erased"] is True
    assert {(i["feedback_id"], i["outcome"]) for i in items} == {
        ("f1", "erased"),
        ("f3", "erased"),
        ("f2", "delivered"),
    }
    assert [(m.to, m.kind) for m in smtp.handler.accepted] == [
        ("gone@example.com", "acknowledgement"),
        ("stays@example.com", "resolution"),
    ]
    assert sorted((c.feedback_id, c.outcome) for _, c in closed) == [
        ("f1", "erased"),
        ("f2", "delivered"),
        ("f3", "erased"),
    ]
