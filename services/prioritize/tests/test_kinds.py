"""Every enriched item is prioritized with its kind; questions wait in the answer queue."""

from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackEnriched, FeedbackPrioritized, IssueUpdated
from feedloop.prioritize.kinds import is_question, kind_of, order_refs
from feedloop.prioritize.signals import is_complaint, signals_of

from tests.support.clients import AppClient, send_all
from tests.support.kafka import Record, read_topic
from tests.support.polling import eventually

from .factory import enriched, record
from .labelled import figures


def _kind(event: FeedbackEnriched) -> str:
    signals = signals_of(event)
    return kind_of(event, signals, complaint=is_complaint(event, signals))


def detector_figures() -> dict[str, tuple[float, float]]:
    """Precision and recall of the question detector per language on the labelled set."""
    return figures("questions.json", is_question, "q")


def test_the_question_detector_holds_in_seven_languages() -> None:
    figures = detector_figures()
    assert set(figures) == {"en", "fr", "de", "es", "it", "pt", "nl"}
    for lang, (precision, recall) in figures.items():
        assert precision >= 0.8 and recall >= 0.8, (lang, precision, recall)


def test_cues_without_a_question_mark_and_statements_that_look_like_questions() -> None:
    assert is_question("Können Sie mir die Rechnung schicken.", "de")
    assert is_question("Je voudrais savoir quand ma commande arrive.", "fr")
    assert not is_question("What a lovely dress!", "en")
    long_review = "How it fits is lovely. The fabric is soft. I will buy it again."
    assert not is_question(long_review, "en")
    assert order_refs("Where is order 48213? Also #A77812.") == ["48213", "A77812"]
    assert order_refs("I ordered 2 dresses") == []


def test_kinds_of_items() -> None:
    assert _kind(enriched("c")) == "complaint"
    praise = enriched("p", label="positive", score=0.9, text="Lovely fabric, fits well.")
    assert _kind(praise) == "praise"
    question = enriched("q", label="neutral", score=0.0, text="Does M fit a UK 12 or 14")
    assert _kind(question) == "question"
    remark = enriched("r", label="neutral", score=0.0, text="Bought it for my sister.")
    assert _kind(remark) == "remark"
    promoter = enriched(
        "n", label="neutral", score=0.1, text="ok", answers=[{"metric": "nps", "score": 10}]
    )
    assert _kind(promoter) == "praise"
    # A complaint that asks stays a complaint: its fix answers it.
    assert _kind(enriched("cq", text="Why do the jeans run so small?")) == "complaint"


def _events(records: list[Record]) -> list[Any]:
    return [decode(r.value, accept=[FeedbackPrioritized, IssueUpdated]) for r in records]


def four_kinds() -> list[FeedbackEnriched]:
    """A complaint, praise, a question naming an order, and a remark."""
    return [
        enriched("k-c", customer="c-1"),
        enriched("k-p", customer="c-2", label="positive", score=0.9, text="Love the fabric."),
        enriched(
            "k-q",
            customer="c-3",
            label="neutral",
            score=0.0,
            text="Could you tell me when order 48213 ships.",
        ),
        enriched("k-r", customer="c-4", label="neutral", score=0.0, text="Bought two."),
    ]


async def queued_question(client: httpx.AsyncClient) -> dict[str, Any]:
    """Waits for the one open question in the inbox, with its order reference and SLA age."""

    async def queued() -> Any:
        body = (await client.get("/v1/inbox", params={"status": "open"})).json()
        return body["items"] if body["total"] == 1 else None

    inbox = await eventually(queued)
    assert inbox, (await client.get("/v1/inbox")).json()
    question: dict[str, Any] = inbox[0]
    assert question["order_refs"] == ["48213"]
    assert question["text"].startswith("Could you")
    assert question["sla_age_s"] >= 0 and question["overdue"] is False
    return question


async def answer_once(client: httpx.AsyncClient, question_id: str) -> None:
    """Answers the question; a second answer is 409, an unknown item 404 (problem+json)."""
    answered = await client.post(
        f"/v1/inbox/{question_id}/answer",
        json={"answer": "It ships tomorrow.", "owner": "ana"},
    )
    assert answered.status_code == 200, answered.text
    again = await client.post(f"/v1/inbox/{question_id}/answer", json={"answer": "x"})
    missing = await client.post("/v1/inbox/nope/answer", json={"answer": "x"})
    assert (again.status_code, missing.status_code) == (409, 404)
    assert again.headers["content-type"] == "application/problem+json"


def has_answer(rs: list[Record]) -> bool:
    return any(
        e.event_type == "issue.updated" and e.payload.kind == "question" for e in _events(rs)
    )


def check_prioritized(out: list[Record], question_id: str) -> None:
    """Each item prioritized with its kind, the answer as its question's resolution, keyed by
    issue."""
    events = _events(out)
    kinds = {
        e.payload.feedback.external_id: (e.payload.kind, e.payload.issue_id)
        for e in events
        if e.event_type == "feedback.prioritized"
    }
    assert {k: v[0] for k, v in kinds.items()} == {
        "k-c": "complaint",
        "k-p": "praise",
        "k-q": "question",
        "k-r": "remark",
    }
    assert kinds["k-q"][1] == question_id
    update = next(e.payload for e in events if e.event_type == "issue.updated" and e.payload.kind)
    assert (update.issue_id, update.status, update.resolution_message) == (
        question_id,
        "resolved",
        "It ships tomorrow.",
    )
    for r, e in zip(out, events, strict=True):
        key = e.payload.issue_id
        assert r.key == key.encode()


async def test_every_item_is_prioritized_and_a_question_is_answered_through_the_inbox(
    app_client: AppClient,
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    async with app_client(sqlite_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in four_kinds()])
        question = await queued_question(client)
        await answer_once(client, question["id"])
        out = await read_topic(kafka_bootstrap, topic_prefix + topics.PRIORITIZED, until=has_answer)
    check_prioritized(out, question["id"])


async def test_answering_needs_the_resolve_scope(app_client: AppClient, sqlite_url: str) -> None:
    from .test_scopes import KEYS

    async with app_client(sqlite_url, api_keys=KEYS, consume=False) as client:
        refused = await client.post(
            "/v1/inbox/x/answer", json={"answer": "hi"}, headers={"X-API-Key": "writer"}
        )
        empty = await client.post(
            "/v1/inbox/x/answer", json={"answer": " "}, headers={"X-API-Key": "resolver"}
        )
        listed = await client.get("/v1/inbox", headers={"X-API-Key": "resolver"})
    assert refused.status_code == 403
    assert empty.status_code == 422
    assert listed.status_code == 403  # writing and resolving do not include reading
