"""A one-off complaint about one order waits in the inbox to be answered individually, until
more customers report the same: then it is a pattern and leaves the queue."""

from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackPrioritized, IssueUpdated, deterministic_id
from feedloop.prioritize.kinds import incident_reason

from tests.support.clients import AppClient, send_all
from tests.support.kafka import Record, read_topic
from tests.support.polling import eventually

from .factory import enriched, record
from .labelled import figures


def incident_figures() -> dict[str, tuple[float, float]]:
    """Precision and recall of the incident detector per language on the labelled set."""
    return figures("incidents.json", lambda text, _: incident_reason(text) is not None, "i")


def test_the_incident_detector_holds_in_seven_languages() -> None:
    figures = incident_figures()
    assert set(figures) == {"en", "fr", "de", "es", "it", "pt", "nl"}
    for lang, (precision, recall) in figures.items():
        assert precision >= 0.8 and recall >= 0.8, (lang, precision, recall)


def test_an_incident_names_an_order_and_what_went_wrong() -> None:
    reason = incident_reason("My parcel #12345 never arrived.")
    assert reason == "one-off incident: names 12345 and says 'never arrived'"
    assert incident_reason("Order 48213: the jeans run small.") is None, "no incident cue"
    assert incident_reason("My parcel never arrived.") is None, "no order named"
    assert incident_reason("It never arrived.", ["SO-99812"]) is not None, "the item's own refs"


LOST = "Order {n}: my parcel never arrived."


async def _incidents(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    body = (await client.get("/v1/inbox", params={"kind": "incident", "limit": 200})).json()
    return {item["feedback_id"]: item for item in body["items"]}


def _fid(external_id: str) -> str:
    return deterministic_id("shop", external_id)


async def test_an_incident_is_answered_individually_or_leaves_as_a_pattern(
    app_client: AppClient,
    database_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    def complaint(external_id: str, customer: str, cluster: str, text: str) -> Any:
        return enriched(
            external_id, customer=customer, theme="delivery", cluster=cluster, text=text
        )

    first = [
        complaint("lost-1", "c-1", "lost", LOST.format(n=12345)),
        complaint("broken-1", "c-2", "broken", "Order 77120: the lamp arrived damaged."),
        complaint("slow-1", "c-3", "slow", "Delivery is slow, order 48213 took a week."),
        complaint("scarf-1", "c-9", "scarf", "Order 99001: the scarf was missing from the box."),
    ]
    async with app_client(database_url) as client:
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in first])
        queued = await eventually(
            lambda: _queued(client, 3), what="three incidents queued (slow-1 is no incident)"
        )
        lost, broken = queued[_fid("lost-1")], queued[_fid("broken-1")]
        _check_lost_parcel(lost)
        answered = await client.post(
            f"/v1/inbox/{broken['id']}/answer", json={"answer": "A new lamp is on its way."}
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "answered"
        await _resolving_the_issue_takes_it_out_of_the_queue(client, queued[_fid("scarf-1")])
        # Two more customers report the lost parcels: the one-off is a pattern now.
        more = [
            complaint(f"lost-{n}", f"c-{n + 2}", "lost", LOST.format(n=n * 1111)) for n in (2, 3)
        ]
        await send_all(raw_producer, [record(i, prefix=topic_prefix) for i in more])

        async def left() -> dict[str, Any] | None:
            item = (await _incidents(client)).get(_fid("lost-1"))
            return item if item and item["status"] == "pattern" else None

        pattern = await eventually(left, what="lost-1 became a pattern")
        refused = await client.post(f"/v1/inbox/{lost['id']}/answer", json={"answer": "x"})
        issue = (await client.get(f"/v1/issues/{lost['issue_id']}")).json()
        still_open = (await client.get("/v1/inbox", params={"status": "open"})).json()
        out = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.PRIORITIZED,
            until=lambda rs: any(e.payload.issue_id == broken["id"] for e in _events(rs)),
        )
    assert pattern["issue_id"] == lost["issue_id"]
    assert (issue["is_pattern"], issue["distinct_customers"]) == (True, 3)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/left-the-queue")
    assert _fid("lost-1") not in {i["feedback_id"] for i in still_open["items"]}
    assert not {_fid("lost-2"), _fid("lost-3")} & {i["feedback_id"] for i in still_open["items"]}
    _check_answer_events(out, broken["id"])


def _check_lost_parcel(lost: dict[str, Any]) -> None:
    assert (lost["kind"], lost["status"], lost["order_refs"]) == ("incident", "open", ["12345"])
    assert lost["reason"] == "one-off incident: names 12345 and says 'never arrived'"
    assert lost["issue_id"] and lost["issue_id"] != lost["id"]


async def _resolving_the_issue_takes_it_out_of_the_queue(
    client: httpx.AsyncClient, scarf: dict[str, Any]
) -> None:
    """scarf-1's one-off issue is resolved through the issues API: it leaves the queue."""
    resolved = await client.patch(
        f"/v1/issues/{scarf['issue_id']}",
        json={"status": "resolved", "resolution_message": "A scarf is on its way."},
    )
    assert resolved.status_code == 200, resolved.text
    scarf = (await client.get(f"/v1/inbox/{scarf['id']}")).json()
    late = await client.post(f"/v1/inbox/{scarf['id']}/answer", json={"answer": "x"})
    assert (scarf["status"], late.status_code) == ("resolved", 409)


def _check_answer_events(out: list[Record], inbox_id: str) -> None:
    """The answer: the one-off issue resolved with it, then the item moved onto that issue."""
    answer = [(r, e) for r, e in zip(out, _events(out), strict=True) if r.key == inbox_id.encode()]
    assert [e.event_type for _, e in answer] == ["issue.updated", "feedback.prioritized"]
    update, moved = answer[0][1].payload, answer[1][1].payload
    assert (update.status, update.kind, update.resolution_message) == (
        "resolved",
        "question",
        "A new lamp is on its way.",
    )
    assert (moved.issue_id, moved.issue_status, moved.kind) == (inbox_id, "resolved", "complaint")
    assert moved.feedback.feedback_id == _fid("broken-1")


async def _queued(client: httpx.AsyncClient, n: int) -> dict[str, dict[str, Any]] | None:
    items = await _incidents(client)
    return items if len(items) == n else None


def _events(records: list[Record]) -> list[Any]:
    return [decode(r.value, accept=[FeedbackPrioritized, IssueUpdated]) for r in records]
