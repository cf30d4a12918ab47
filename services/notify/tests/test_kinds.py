"""Praise, questions and remarks close their loop too: thanked, answered or noted, once each."""

from collections import Counter
from typing import Any

from feedloop.common.events import Envelope, FeedbackClosed, Sentiment
from feedloop.notify.delivery.outcomes import loop_outcome

from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked

GLAD = Sentiment(label="positive", score=0.9, confidence=0.95)
UNSURE = Sentiment(label="positive", score=0.7, confidence=0.5)
FLAT = Sentiment(label="neutral", score=0.0, confidence=0.9)
ANSWER = "The medium is a UK 12."


def test_loop_outcomes_of_delivery_outcomes() -> None:
    assert loop_outcome("resolution", "delivered") == "resolved"
    assert loop_outcome("thanks", "delivered") == "thanked"
    assert loop_outcome("answer", "delivered") == "answered"
    assert loop_outcome("resolution", "failed") == "undeliverable"
    assert loop_outcome("resolution", "capped") == "undeliverable"
    assert loop_outcome("thanks", "capped") == "noted"
    assert loop_outcome("note", "noted") == "noted"
    assert loop_outcome("answer", "opted_out") == "opted_out"


def one_of_each_kind() -> list[Envelope[Any]]:
    """Praise (thanked, noted, nobody to thank), a remark, a question and a complaint."""
    return [
        # A promoter's praise: thanked, in German; their second praise within 30 days: noted.
        linked("p1", "praise-fit", "c1", kind="praise", sentiment=GLAD, locale="de-DE"),
        # (p1 and p2 wait on two groups, so on two partitions: either may come first.)
        linked("p2", "praise-price", "c1", kind="praise", sentiment=GLAD, locale="de-DE"),
        # An NPS promoter with a plain text is thanked too (by e-mail: it came by e-mail).
        linked(
            "p3",
            "praise-fit",
            "c2",
            kind="praise",
            sentiment=FLAT,
            nps=10,
            channel="email",
            email="c2@example.com",
        ),
        # Praise the model is unsure of: noted, not thanked.
        linked("p4", "praise-fit", "c3", kind="praise", sentiment=UNSURE),
        # Praise from a system with no channel: nobody to thank.
        linked("p5", "praise-fit", "c4", kind="praise", sentiment=GLAD, source="crm"),
        # A remark: noted at once.
        linked("r1", "remark-fit", "c5", kind="remark", sentiment=FLAT),
        # A question: waits for its answer, then answered in French.
        linked("q1", "question-1", "c6", kind="question", sentiment=FLAT, locale="fr-FR"),
        # A complaint (no kind: an older producer) waits on its issue, then is resolved.
        linked("f1", "i1", "c7"),
    ]


def check_closed_once(closed: list[tuple[str, FeedbackClosed]]) -> None:
    """One closed event per item, each with its kind's loop outcome."""
    assert Counter(c.feedback_id for _, c in closed) == Counter(
        ["p1", "p2", "p3", "p4", "p5", "r1", "q1", "f1"]
    ), "one closed event per item"
    assert len({event_id for event_id, _ in closed}) == 8
    outcomes = {c.feedback_id: (c.kind, c.loop_outcome, c.outcome) for _, c in closed}
    first, second = sorted([outcomes.pop("p1"), outcomes.pop("p2")], key=lambda o: o[1])
    assert (first, second) == (
        ("praise", "noted", "noted"),
        ("praise", "thanked", "delivered"),
    ), "one thank-you per customer in 30 days"
    assert outcomes == {
        "p3": ("praise", "thanked", "delivered"),
        "p4": ("praise", "noted", "noted"),
        "p5": ("praise", "no_channel", "no_channel"),
        "r1": ("remark", "noted", "noted"),
        "q1": ("question", "answered", "delivered"),
        "f1": ("complaint", "resolved", "delivered"),
    }


def check_messages(loop: NotifyLoop, smtp: SmtpServer, thanks: list[dict[str, Any]]) -> None:
    """The thank-yous, the answer and the resolution went out once, in each customer's language."""
    assert len({t["feedback_id"] for t in thanks} & {"p1", "p2"}) == 1
    assert {t["feedback_id"] for t in thanks} - {"p1", "p2"} == {"p3", "p5"}
    hooks = {h.body["customer_id"]: h for h in loop.receiver.delivered()}
    assert set(hooks) == {"c1", "c6", "c7"}
    assert hooks["c1"].event == "notification.thanks"
    assert hooks["c1"].body["subject"] == "Danke für Ihre freundlichen Worte"
    assert hooks["c6"].event == "notification.answer"
    assert hooks["c6"].body["message"] == ANSWER
    assert hooks["c6"].body["subject"] == "Une réponse à votre question"
    mails = smtp.handler.accepted
    assert [(m.to, m.kind) for m in mails] == [("c2@example.com", "thanks")]


async def test_each_kind_ends_with_its_outcome_once(
    loop: NotifyLoop,
    database_url: str,
    smtp: SmtpServer,
) -> None:
    events = one_of_each_kind()
    answered = [
        issue("question-1", 2, "resolved", message=ANSWER, kind="question"),
        issue("i1", 2, "resolved", message="Fixed."),
    ]
    async with loop.app(database_url, smtp=smtp) as client:
        await loop.send(events)
        early = await loop.closed(expect=6)
        assert {c.feedback_id for _, c in early} == {"p1", "p2", "p3", "p4", "p5", "r1"}
        await loop.send(answered)
        closed = await loop.closed(expect=8)

        async def all_done() -> bool:
            items = await notifications_of(client)
            return len(items) >= 8 and all(i["outcome"] for i in items)

        assert await eventually(all_done)
        thanks = await notifications_of(client, kind="thanks")

    check_closed_once(closed)
    check_messages(loop, smtp, thanks)


async def test_opted_out_customers_are_not_thanked(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    async with loop.app(sqlite_url) as client:
        opted = await client.put("/v1/customers/c1/preferences", json={"opted_out": {"all": True}})
        assert opted.status_code == 200, opted.text
        await loop.send([linked("p1", "praise-fit", "c1", kind="praise", sentiment=GLAD)])
        closed = await loop.closed(expect=1)
    assert [(c.feedback_id, c.loop_outcome) for _, c in closed] == [("p1", "opted_out")]
    assert loop.receiver.delivered() == []


async def test_an_incident_answered_individually_closes_answered_once(
    loop: NotifyLoop, database_url: str
) -> None:
    """A one-off complaint answered through prioritize's inbox leaves its issue for its own
    one-off issue (kind question): answered, and not told again when its old issue is fixed.
    A reporter of an issue that became a pattern is told about the fix with the others."""
    complaints = [
        linked("f1", "i1", "c1", severity="low"),
        linked("f2", "i2", "c2", severity="low"),
        linked("f3", "i2", "c3", severity="low"),
    ]

    def answered(feedback_id: str, customer: str) -> list[Any]:
        one_off = f"incident-{feedback_id}"
        return [
            issue(one_off, 2, "resolved", message=ANSWER, severity="low", kind="question"),
            linked(feedback_id, one_off, customer, status="resolved", severity="low"),
        ]

    async with loop.app(database_url):
        await loop.send(complaints)
        # f4's answer comes before its link to i1 is applied (another key, another partition).
        await loop.send([*answered("f1", "c1"), *answered("f4", "c4")])
        await loop.send([linked("f4", "i1", "c4", severity="low")])
        first = await loop.closed(expect=2)
        await loop.send(
            [
                issue("i1", 2, "resolved", message="Fixed."),
                issue("i2", 2, "resolved", message="Fixed."),
            ]
        )
        closed = await loop.closed(expect=4)
    assert {c.feedback_id for _, c in first} == {"f1", "f4"}
    assert Counter(c.feedback_id for _, c in closed) == Counter(["f1", "f2", "f3", "f4"])
    outcomes = {c.feedback_id: (c.kind, c.loop_outcome, c.issue_id) for _, c in closed}
    assert outcomes == {
        "f1": ("complaint", "answered", "incident-f1"),
        "f4": ("complaint", "answered", "incident-f4"),
        "f2": ("complaint", "resolved", "i2"),
        "f3": ("complaint", "resolved", "i2"),
    }
    hooks = {h.body["customer_id"]: h for h in loop.receiver.delivered()}
    assert hooks["c1"].event == "notification.answer" and hooks["c1"].body["message"] == ANSWER
    assert hooks["c2"].event == "notification.resolution"
