"""The touchpoints topic, the second way in, on the real broker.

A touchpoint already reported by REST and reported again on the topic is decided once; one
reported on the topic first is a duplicate when REST reports it later; records solicit cannot
take land on touchpoints.dlq with their reason, and the batch around them goes on; an erased
customer's touchpoint is stored nowhere.
"""

from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, encode
from feedloop.common.events import Envelope, TouchpointReported
from feedloop.common.touchpoints import TouchpointCreate
from feedloop.solicit.app import create_app

from tests.support.clients import app_client, send_all
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import broker_settings
from .test_flow import decisions, touchpoint


def reported(body: dict[str, Any], prefix: str, key: str | None = None) -> OutgoingRecord:
    """A touchpoint.reported record as a shop would produce it (keyed by customer id)."""
    event = TouchpointReported(touchpoint=TouchpointCreate.model_validate(body))
    envelope = Envelope.wrap(
        event,
        event_id=f"shop-{body['touchpoint_id']}",
        producer="shop",
        correlation_id=body["touchpoint_id"],
    )
    return encode(envelope, key=key or body["customer"]["id"], prefix=prefix)


def raw(value: bytes, prefix: str) -> OutgoingRecord:
    """A record with any value on the touchpoints topic."""
    return OutgoingRecord(topic=prefix + topics.TOUCHPOINTS, key=b"x", value=value, headers=[])


async def test_touchpoints_from_the_topic_are_decided_once_with_rest_and_bad_ones_dead_lettered(
    tmp_path: Path,
    kafka_bootstrap: str,
    topic_prefix: str,
    raw_producer: AIOKafkaProducer,
    smtp: SmtpServer,
) -> None:
    settings = broker_settings(tmp_path, kafka_bootstrap, topic_prefix, smtp_port=smtp.port)
    unknown_type = orjson.loads(reported(touchpoint("k-0", "c-0"), topic_prefix).value or b"")
    unknown_type["event_type"] = "touchpoint.guessed"
    bad_zone = touchpoint("k-9", "c-9")
    async with app_client(create_app(settings), base_url="http://solicit.test") as client:
        first = await client.post("/v1/touchpoints", json=touchpoint("k-1", "c-1"))
        assert decisions(first.json()) == {"post-delivery-nps": "invited"}
        assert (await client.delete("/v1/customers/c-5")).status_code == 200
        records = [
            reported(touchpoint("k-1", "c-1"), topic_prefix),  # REST had it first
            raw(b"{not json", topic_prefix),
            # The erased customer's, in c-2's partition: taken before c-2 is invited.
            reported(touchpoint("k-5", "c-5"), topic_prefix, key="c-2"),
            reported(touchpoint("k-2", "c-2"), topic_prefix),
            raw(orjson.dumps(unknown_type), topic_prefix),
            reported(touchpoint("k-2", "c-2"), topic_prefix),  # a producer's retry
        ]
        # A touchpoint REST would refuse (422: unknown time zone) is refused here too.
        event = orjson.loads(reported(bad_zone, topic_prefix).value or b"")
        event["payload"]["touchpoint"]["customer"]["time_zone"] = "Mars/Olympus"
        records.append(raw(orjson.dumps(event), topic_prefix))
        await send_all(raw_producer, records)

        dead = await read_topic(
            kafka_bootstrap,
            topic_prefix + topics.dlq_topic(topics.TOUCHPOINTS),
            until=lambda r: len(r) >= 3,
            timeout_s=60,
        )
        reasons = sorted(dict(r.headers)[topics.HEADER_DLQ_REASON].decode() for r in dead)
        assert reasons == ["invalid_json", "invalid_payload", "unknown_event_type"], reasons
        assert any(b"Mars/Olympus" in (r.value or b"") for r in dead), "kept unchanged"

        mails = await eventually(
            lambda: {m.customer_id for m in smtp.handler.accepted} >= {"c-1", "c-2"},
            what="the invitations of k-1 (REST) and k-2 (topic)",
        )
        assert mails
        later = await client.post("/v1/touchpoints", json=touchpoint("k-2", "c-2"))
        assert later.json()["duplicate"] is True, "the topic had it first"
        assert decisions(later.json()) == {"post-delivery-nps": "invited"}
        erased = await client.post("/v1/touchpoints", json=touchpoint("k-5", "c-5"))
        assert erased.json()["duplicate"] is False, "nothing of the erased customer was stored"
        assert decisions(erased.json()) == {"post-delivery-nps": "erased"}

        async def sent() -> int:
            rates = (await client.get("/v1/response-rates")).json()
            return int(rates["total"]["sent"])

        await eventually(lambda: _is(sent, 2), what="both invitations recorded as sent")
    invited = [m.customer_id for m in smtp.handler.accepted if m.kind == "survey.invitation"]
    assert sorted(invited) == ["c-1", "c-2"], "one invitation each"


async def _is(read: Any, expected: int) -> bool:
    return bool(await read() == expected)
