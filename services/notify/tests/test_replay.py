"""Replaying `prioritized`, repeated records, stale issue versions and poison records create no
duplicate notification and stop nothing."""

from typing import Any

from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, header

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import WebhookReceiver

from .conftest import closed_events, notifications_of, systems
from .factory import issue, linked, records


async def test_replaying_prioritized_from_the_start_sends_nothing_twice(
    app_client: AppClient,
    database_url: str,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    events = [
        linked("f1", "i1", "c1"),
        linked("f2", "i1", "c2"),
        linked("f3", "i1", "c2"),
        issue("i1", 1, "resolved", message="Fixed."),
    ]
    hooks = systems(receiver, "shop")
    async with app_client(database_url, source_systems=hooks) as client:
        # Every record twice: a producer retry upstream.
        await send_all(raw_producer, records(events + events, topic_prefix))

        async def done() -> list[dict[str, Any]]:
            items = await notifications_of(client)
            return items if len(items) == 3 and all(i["outcome"] for i in items) else []

        before = await eventually(done)
    sent = len(receiver.hits)
    # A new consumer group reads the topic from its first offset: a full replay.
    async with app_client(
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
        closed = await closed_events(kafka_bootstrap, topic_prefix, expect=3)
    assert sent == 2, "one resolution each for c1 and c2"
    assert len(receiver.hits) == sent
    assert sorted(after, key=lambda i: i["id"]) == sorted(before, key=lambda i: i["id"])
    assert sorted(c.feedback_id for _, c in closed) == ["f1", "f2", "f3"]


async def test_an_older_issue_version_arriving_late_changes_nothing(
    app_client: AppClient,
    sqlite_url: str,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    topic_prefix: str,
) -> None:
    events = [
        linked("f1", "i1", "c1"),
        issue("i1", 3, "in_progress"),
        issue("i1", 2, "resolved", message="An old draft."),
        issue("i1", 4, "resolved", message="The real fix."),
    ]
    async with app_client(sqlite_url, source_systems=systems(receiver, "shop")) as client:
        await send_all(raw_producer, records(events, topic_prefix))

        async def delivered() -> list[dict[str, Any]]:
            items = await notifications_of(client, kind="resolution")
            return items if items and items[0]["outcome"] == "delivered" else []

        await eventually(delivered)
    # The fix, then the follow-up question with its link (test_followup).
    assert [h.body["message"].split("\n\n")[0] for h in receiver.hits] == ["The real fix."]


async def test_a_poison_record_goes_to_the_dlq_with_its_reason_and_the_partition_keeps_flowing(
    app_client: AppClient,
    sqlite_url: str,
    receiver: WebhookReceiver,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    good = records(
        [linked("f1", "i1", "c1"), issue("i1", 1, "resolved", message="Fixed.")], topic_prefix
    )
    poison = [
        OutgoingRecord(topic_prefix + topics.PRIORITIZED, b"i1", b"{not json", []),
        OutgoingRecord(
            topic_prefix + topics.PRIORITIZED,
            b"i1",
            b'{"event_type": "issue.updated", "schema_version": 99, "payload": {}}',
            [],
        ),
    ]
    async with app_client(sqlite_url, source_systems=systems(receiver, "shop")) as client:
        await send_all(raw_producer, [good[0], *poison, good[1]])

        async def delivered() -> bool:
            items = await notifications_of(client, kind="resolution")
            return bool(items) and items[0]["outcome"] == "delivered"

        await eventually(delivered)
    dead = await read_topic(
        kafka_bootstrap,
        topic_prefix + topics.dlq_topic(topics.PRIORITIZED),
        until=lambda rs: len(rs) >= 2,
    )
    assert sorted(header(r.headers, topics.HEADER_DLQ_REASON) or "" for r in dead) == [
        "invalid_json",
        "unsupported_schema_version",
    ]
    assert all(header(r.headers, topics.HEADER_DLQ_CONSUMER_GROUP) for r in dead)
