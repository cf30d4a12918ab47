"""Dead letters shown without personal data: text and contact fields masked unless revealed.

A dead letter copies the record that failed, so it holds what the customer wrote, their
e-mail and social handle; an SMTP error quotes the address. `feedloop dlq show` masks them by
default, keeping what an operator needs to triage (ids, types, reasons, sizes). `--reveal`
shows them in clear to an operator who names themself, and records that on the `audit`
topic (who, which topic, when) before anything is printed.
"""

import getpass
import re
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from feedloop.common.codec import encode
from feedloop.common.events import AuditRecorded, Envelope, deterministic_id, utcnow
from feedloop.common.kafka import client_options
from feedloop.common.settings import ServiceSettings

PERSONAL_KEYS: Final = frozenset(
    {
        "text",
        "email",
        "handle",
        "name",
        "subject",
        "title",
        "evidence",
        "url",
        "resolution_message",
        "error",
        "last_error",
    }
)
"""Fields whose values may quote a person or identify them (in any nesting)."""
EMAIL: Final = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def masked(value: str) -> str:
    """What a personal string is shown as: its size only."""
    return f"[masked: {len(value)} chars]"


def mask_value(value: Any) -> Any:
    """Returns a decoded value with every personal field masked, at any depth (pure)."""
    if isinstance(value, dict):
        return {
            k: (masked(v) if k in PERSONAL_KEYS and isinstance(v, str) and v else mask_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, str):
        return EMAIL.sub("[masked e-mail]", value)
    return value


def mask_record(described: dict[str, Any]) -> dict[str, Any]:
    """Returns a described dead letter (dlq.describe) with personal data masked (pure)."""
    value = described["value"]
    if described["value_is_json"]:
        value = mask_value(value)
    elif isinstance(value, str):
        value = f"[masked: not JSON, {len(value)} chars shown of it]"
    dlq = {k: EMAIL.sub("[masked e-mail]", v) if v else v for k, v in described["dlq"].items()}
    return described | {"value": value, "dlq": dlq}


def operator_name(given: str | None) -> str:
    """The operator the audit names: --operator, else the login name."""
    return given or getpass.getuser()


async def audit_reveal(
    *, settings: ServiceSettings, operator: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Publishes an `audit.recorded` event for an operator's action (acks=all) before it runs."""
    at = utcnow()
    entry_id = deterministic_id("audit", "cli", operator, action, target, at.isoformat())
    event = AuditRecorded(
        entry_id=entry_id,
        service="cli",
        at=at,
        actor=operator,
        action=action,
        target_type="topic",
        target_id=target,
        detail=detail,
    )
    record = encode(
        Envelope.wrap(event, event_id=entry_id, producer="cli", correlation_id=entry_id),
        key=f"topic:{target}",
        prefix=settings.kafka_topic_prefix,
    )
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()
