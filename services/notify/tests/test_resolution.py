"""Resolving an issue tells every linked customer once, through the right channel, and closes
every feedback item once."""

from collections import Counter
from typing import Any

import httpx
from feedloop.common.events import Envelope, FeedbackClosed

from tests.support.clients import send_all
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import notifications_of, settled
from .factory import NotifyLoop, issue, linked, records

MESSAGE = "We re-measured every product and updated the size charts."


def one_issue_seven_items() -> list[Envelope[Any]]:
    """Seven items of five customers linked to i1, then i1 in progress, then resolved."""
    return [
        # Three items of one customer from the shop (which has a webhook): one message.
        linked("f1", "i1", "c1"),
        linked("f2", "i1", "c1"),
        linked("f3", "i1", "c1", channel="chat"),
        # Feedback that came as an e-mail is answered by e-mail.
        linked("f4", "i1", "c2", channel="email", email="c2@example.com"),
        # The CRM has no webhook: e-mail when the address is known, else no channel.
        linked("f5", "i1", "c3", source="crm", email="c3@example.com"),
        linked("f6", "i1", "c4", source="crm"),
        # German speakers get German.
        linked("f7", "i1", "c5", locale="de-DE"),
        issue("i1", 1, "in_progress"),
        issue("i1", 2, "resolved", message=MESSAGE),
    ]


def check_outcomes(by_feedback: dict[str, dict[str, Any]]) -> None:
    """Each item's outcome and channel; c1's three items share one delivery."""
    assert {f: i["outcome"] for f, i in by_feedback.items()} == {
        "f1": "delivered",
        "f2": "delivered",
        "f3": "delivered",
        "f4": "delivered",
        "f5": "delivered",
        "f6": "no_channel",
        "f7": "delivered",
    }
    assert {f: i["channel"] for f, i in by_feedback.items()} == {
        "f1": "webhook",
        "f2": "webhook",
        "f3": "webhook",
        "f4": "email",
        "f5": "email",
        "f6": "none",
        "f7": "webhook",
    }
    assert len({by_feedback[f]["delivery_id"] for f in ("f1", "f2", "f3")}) == 1


def check_webhooks(loop: NotifyLoop) -> None:
    """One signed webhook per shop customer, c1's listing its three items, c5's in German."""
    hooks = loop.receiver.delivered()
    assert Counter(h.body["customer_id"] for h in hooks) == {"c1": 1, "c5": 1}
    assert all(h.verified and h.event == "notification.resolution" for h in hooks)
    assert len({h.key for h in hooks}) == 2
    c1 = next(h.body for h in hooks if h.body["customer_id"] == "c1")
    assert [f["external_id"] for f in c1["feedback"]] == ["ext-f1", "ext-f2", "ext-f3"]
    fix, ask = c1["message"].split("\n\n")
    assert fix == MESSAGE and c1["locale"] == "en"
    assert ask.startswith("Is it fixed for you?") and "/v1/followup/" in ask
    c5 = next(h.body for h in hooks if h.body["customer_id"] == "c5")
    assert c5["locale"] == "de" and c5["subject"] == "Was wir mit Ihrem Feedback gemacht haben"


def check_mails(smtp: SmtpServer, by_feedback: dict[str, dict[str, Any]]) -> None:
    """One mail each to c2 and c3, carrying the message, its Message-ID from the delivery."""
    mails = smtp.handler.accepted
    assert sorted((m.to, m.kind, m.customer_id) for m in mails) == [
        ("c2@example.com", "resolution", "c2"),
        ("c3@example.com", "resolution", "c3"),
    ]
    assert all(MESSAGE in m.text for m in mails)
    assert {m.message_id for m in mails} == {
        f"<{by_feedback[f]['delivery_id']}@notify.feedloop.example>" for f in ("f4", "f5")
    }


def check_closed(closed: list[tuple[str, FeedbackClosed]]) -> None:
    """Every item closed once, delivered_at set exactly where it was delivered."""
    assert sorted(c.feedback_id for _, c in closed) == [f"f{n}" for n in range(1, 8)]
    assert len({event_id for event_id, _ in closed}) == 7
    assert {c.feedback_id: c.outcome for _, c in closed}["f6"] == "no_channel"
    assert all(c.issue_id == "i1" and c.time_to_close_seconds > 0 for _, c in closed)
    assert all((c.delivered_at is not None) == (c.outcome == "delivered") for _, c in closed)


async def test_resolving_an_issue_tells_each_customer_once_through_the_right_channel(
    loop: NotifyLoop,
    database_url: str,
    smtp: SmtpServer,
) -> None:
    async with loop.app(database_url, smtp=smtp) as client:
        await loop.send(one_issue_seven_items())
        await eventually(lambda: _settled(client, 7), timeout_s=60)
        items = await notifications_of(client, kind="resolution")
        closed = await loop.closed(expect=7)

    by_feedback = {i["feedback_id"]: i for i in items}
    check_outcomes(by_feedback)
    check_webhooks(loop)
    check_mails(smtp, by_feedback)
    check_closed(closed)


async def _settled(client: httpx.AsyncClient, n: int, kind: str = "resolution") -> bool:
    return settled(await notifications_of(client, kind=kind), n)


async def test_feedback_linked_after_the_resolution_gets_the_resolution_message(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    async with loop.app(sqlite_url) as client:
        await send_all(
            loop.producer,
            records(
                [linked("f1", "i1", "c1"), issue("i1", 1, "resolved", message=MESSAGE)],
                loop.prefix,
            ),
        )
        await eventually(lambda: _settled(client, 1))
        # Prioritize links fresh feedback to the (still resolved) issue.
        await send_all(
            loop.producer,
            records(
                [
                    linked("f2", "i1", "c2", status="resolved"),
                    linked("f3", "i1", "c1", status="resolved"),
                ],
                loop.prefix,
            ),
        )
        await eventually(lambda: _settled(client, 3))
        closed = await loop.closed(expect=3)
    hooks = loop.receiver.delivered()
    assert sorted((h.body["customer_id"], h.body["message"].split("\n\n")[0]) for h in hooks) == [
        ("c1", MESSAGE),
        ("c2", MESSAGE),
    ], "c1 heard of the fix already; f3 shares that message"
    assert sorted((c.feedback_id, c.outcome) for _, c in closed) == [
        ("f1", "delivered"),
        ("f2", "delivered"),
        ("f3", "delivered"),
    ]


async def test_detractors_and_severe_issues_get_an_acknowledgement_before_the_resolution(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    events = [
        linked("f1", "i1", "detractor", nps=3),
        linked("f2", "i1", "promoter", nps=9),
        linked("f3", "i1", "quiet"),
        linked("f4", "i2", "quiet-on-critical", severity="critical"),
    ]
    async with loop.app(sqlite_url) as client:
        await loop.send(events)
        await eventually(lambda: _settled(client, 2, "acknowledgement"))
        await loop.send([issue("i1", 1, "resolved", message=MESSAGE)])
        await eventually(lambda: _settled(client, 3))
    sent = [(h.body["customer_id"], h.body["kind"]) for h in loop.receiver.delivered()]
    assert sorted(sent) == [
        ("detractor", "acknowledgement"),
        ("detractor", "resolution"),
        ("promoter", "resolution"),
        ("quiet", "resolution"),
        ("quiet-on-critical", "acknowledgement"),
    ]
    assert sent.index(("detractor", "acknowledgement")) < sent.index(("detractor", "resolution"))
    ack = next(h.body for h in loop.receiver.delivered() if h.body["kind"] == "acknowledgement")
    assert "let you know" in ack["message"]
