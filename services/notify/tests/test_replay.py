"""Replaying `prioritized`, repeated records, stale issue versions and poison records create no
duplicate notification and stop nothing."""

from typing import Any

from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, header

from tests.support.clients import send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked, records, systems


async def test_replaying_prioritized_from_the_start_sends_nothing_twice(
    loop: NotifyLoop,
    database_url: str,
) -> None:
    events = [
        linked("f1", "i1", "c1"),
        linked("f2", "i1", "c2"),
        linked("f3", "i1", "c2"),
        issue("i1", 1, "resolved", message="Fixed."),
    ]
    hooks = systems(loop.receiver, "shop")
    async with loop.app_client(database_url, source_systems=hooks) as client:
        # Every record twice: a producer retry upstream.
        await loop.send(events + events)

        async def done() -> list[dict[str, Any]]:
            items = await notifications_of(client)
            return items if len(items) == 3 and all(i["outcome"] for i in items) else []

        before = await eventually(done)
    sent = len(loop.receiver.hits)
    # A new consumer group reads the topic from its first offset: a full replay.
    async with loop.app_client(
        database_url, source_systems=hooks, consumer_group="feedloop-notify-replay"
    ) as client:
        consumer = client.app.state.consumer  # type: ignore[attr-defined]

        async def replayed() -> bool:
            reader = consumer.consumer
            behind = [
                tp
                for tp in reader.assignment()
                if reader.highwater(tp) is None or await reader.position(tp) < reader.highwater(tp)
            ]
            return consumer.batches > 0 and not behind

        await eventually(replayed)
        after = await notifications_of(client)
        closed = await loop.closed(expect=3)
    assert sent == 2, "one resolution each for c1 and c2"
    assert len(loop.receiver.hits) == sent
    assert sorted(after, key=lambda i: i["id"]) == sorted(before, key=lambda i: i["id"])
    assert sorted(c.feedback_id for _, c in closed) == ["f1", "f2", "f3"]


async def test_an_older_issue_version_arriving_late_changes_nothing(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    events = [
        linked("f1", "i1", "c1"),
        issue("i1", 3, "in_progress"),
        issue("i1", 2, "resolved", message="An old draft."),
        issue("i1", 4, "resolved", message="The real fix."),
    ]
    async with loop.app(sqlite_url) as client:
        await loop.send(events)

        async def delivered() -> list[dict[str, Any]]:
            items = await notifications_of(client, kind="resolution")
            return items if items and items[0]["outcome"] == "delivered" else []

        await eventually(delivered)
    # The fix, then the follow-up question with its link (test_followup).
    assert [h.body["message"].split("\n\n")[0] for h in loop.receiver.hits] == ["The real fix."]


async def test_a_poison_record_goes_to_the_dlq_with_its_reason_and_the_partition_keeps_flowing(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    good = records(
        [linked("f1", "i1", "c1"), issue("i1", 1, "resolved", message="Fixed.")], loop.prefix
    )
    poison = [
        OutgoingRecord(loop.prefix + topics.PRIORITIZED, b"i1", b"{not json", []),
        OutgoingRecord(
            loop.prefix + topics.PRIORITIZED,
            b"i1",
            b'{"event_type": "issue.updated", "schema_version": 99, "payload": {}}',
            [],
        ),
    ]
    async with loop.app(sqlite_url) as client:
        await send_all(loop.producer, [good[0], *poison, good[1]])

        async def delivered() -> bool:
            items = await notifications_of(client, kind="resolution")
            return bool(items) and items[0]["outcome"] == "delivered"

        await eventually(delivered)
    dead = await read_topic(
        loop.bootstrap,
        loop.prefix + topics.dlq_topic(topics.PRIORITIZED),
        until=lambda rs: len(rs) >= 2,
    )
    assert sorted(header(r.headers, topics.HEADER_DLQ_REASON) or "" for r in dead) == [
        "invalid_json",
        "unsupported_schema_version",
    ]
    assert all(header(r.headers, topics.HEADER_DLQ_CONSUMER_GROUP) for r in dead)
