"""`feedloop dlq show` masks text and contact data; `--reveal` shows them and is audited."""

import orjson
from aiokafka import AIOKafkaProducer
from feedloop.cli.masking import mask_value
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason

from tests.support.kafka import read_topic

from .conftest import Invoke, as_json, put_dead_letter

ITEM = {
    "event_id": "e-1",
    "payload": {
        "feedback_id": "f-1",
        "item": {
            "channel": "social",
            "customer": {"id": "cust-1", "email": "ada@example.org"},
            "handle": "@ada_l",
            "text": "My parcel never came, Ada Lovelace",
            "rating": 1,
        },
    },
}


def test_masking_keeps_ids_and_numbers_and_hides_what_identifies_a_person() -> None:
    masked = mask_value(ITEM)
    item = masked["payload"]["item"]
    assert item["customer"] == {"id": "cust-1", "email": "[masked: 15 chars]"}
    assert item["handle"] == "[masked: 6 chars]"
    assert item["text"] == "[masked: 34 chars]"
    assert item["rating"] == 1 and masked["payload"]["feedback_id"] == "f-1"
    assert mask_value({"note": "sent to ada@example.org"}) == {"note": "sent to [masked e-mail]"}


async def test_show_masks_by_default_and_reveal_is_audited_before_it_shows(
    cli: Invoke, raw_producer: AIOKafkaProducer, topic_prefix: str, kafka_bootstrap: str
) -> None:
    raw = topic_prefix + topics.RAW_FEEDBACK
    await put_dead_letter(
        raw_producer,
        source=raw,
        reason=DeadLetterReason.INVALID_PAYLOAD,
        value=orjson.dumps(ITEM),
    )

    shown = as_json(await cli("--json", "dlq", "show", "raw-feedback.dlq"))["records"]
    text = orjson.dumps(shown).decode()
    assert "ada@example.org" not in text and "Lovelace" not in text and "@ada_l" not in text
    assert shown[0]["value"]["payload"]["item"]["customer"]["id"] == "cust-1"
    assert not await read_topic(kafka_bootstrap, topic_prefix + topics.AUDIT, idle_s=0.5)

    revealed = await cli(
        "--json", "dlq", "show", "raw-feedback.dlq", "--reveal", "--operator", "sre-ann"
    )
    assert revealed.exit_code == 0, revealed.stderr
    assert as_json(revealed)["records"][0]["value"] == ITEM
    audit = await read_topic(kafka_bootstrap, topic_prefix + topics.AUDIT, idle_s=0.5)
    entries = [orjson.loads(r.value)["payload"] for r in audit]
    assert [(e["actor"], e["action"], e["target_id"]) for e in entries] == [
        ("sre-ann", "dlq.revealed", "raw-feedback.dlq")
    ]
