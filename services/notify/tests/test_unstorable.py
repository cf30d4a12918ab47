"""Values SQLite takes and PostgreSQL refuses stall nothing: the record goes to the DLQ alone
(or, for an over-long locale, the locale is dropped) and the partition flows on."""

from typing import Any

from feedloop.common import topics
from feedloop.common.codec import header
from feedloop.common.events import Envelope

from tests.support.kafka import read_topic
from tests.support.polling import eventually

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked


def retitled(envelope: Envelope[Any], title: str) -> Envelope[Any]:
    """The same issue.updated event with another title."""
    return Envelope.wrap(
        envelope.payload.model_copy(update={"title": title}),
        event_id=envelope.event_id,
        producer="prioritize",
        correlation_id=envelope.correlation_id,
    )


async def test_unstorable_values_are_dead_lettered_alone_and_good_events_around_them_apply(
    loop: NotifyLoop,
    database_url: str,
) -> None:
    events = [
        linked("f1", "i1", "c1"),
        linked("f2", "i1", "c2", locale="en-" + "x" * 60),  # longer than VARCHAR(35)
        linked("f3", "i1", "c3", source="sh\x00op"),  # NUL: PostgreSQL text refuses it
        retitled(issue("i9", 1, "new"), "Sizes \x00 run small"),
        linked("f4", "i8", "c4", source="s" * 500),  # VARCHAR(200): only PostgreSQL refuses
        linked("f5", "i1", "c5"),
        issue("i1", 1, "resolved", message="Fixed."),
    ]
    async with loop.app(database_url) as client:
        await loop.send(events)

        async def resolved_customers() -> set[str]:
            items = await notifications_of(client, kind="resolution")
            customers = {i["customer_id"] for i in items if i["outcome"]}
            return customers if customers >= {"c1", "c2", "c5"} else set()

        customers = await eventually(resolved_customers)
        on_postgres = database_url.startswith("postgresql")
        dead = await read_topic(
            loop.bootstrap,
            loop.prefix + topics.dlq_topic(topics.PRIORITIZED),
            until=lambda rs: len(rs) >= 2 + on_postgres,
        )
    assert customers == {"c1", "c2", "c5"}
    why = {
        header(d.headers, topics.HEADER_DLQ_REASON): header(d.headers, topics.HEADER_DLQ_ERROR)
        for d in dead
    }
    reasons = sorted(header(d.headers, topics.HEADER_DLQ_REASON) or "" for d in dead)
    if on_postgres:
        assert reasons == ["invalid_payload", "invalid_payload", "processing_error"]
        assert "character varying(200)" in (why["processing_error"] or "")
    else:
        assert reasons == ["invalid_payload", "invalid_payload"]
    assert "NUL" in (why["invalid_payload"] or "")
