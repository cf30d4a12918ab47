"""JSON Schema and AsyncAPI documents generated from the event models (committed under docs/)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from feedloop.common import topics
from feedloop.common.codec import DeadLetterReason
from feedloop.common.dlq import NOTIFICATION_FAILED as NOTIFICATION_FAILED_TYPE
from feedloop.common.events import EVENT_TYPES, Envelope
from feedloop.common.openapi import require_discriminators

SCHEMA_BASE = "https://feedloop.dev/schemas/events/"
KAFKA_BINDING_VERSION = "0.5.0"
# The payload schemas are JSON Schema (pydantic's); without this AsyncAPI reads them as its
# own schema dialect, where their OpenAPI-style `discriminator` objects are invalid.
JSON_SCHEMA_FORMAT = "application/schema+json;version=draft-07"


@dataclass(frozen=True)
class TopicSpec:
    """What a consumer must know of a topic; partitions and retention are the cluster's."""

    key: str
    producer: str
    event_types: tuple[str, ...]
    retention_ms: int
    partitions: int = 12
    replicas: int = 3
    cleanup_policy: str = "delete"
    dead_letters: str | None = None


DAY_MS = 86_400_000
# The cluster's topics (deploy/k8s/base/kafka/topics.yaml; tests/contracts checks they agree).
TOPIC_SPECS: dict[str, TopicSpec] = {
    topics.RAW_FEEDBACK: TopicSpec(
        "customer id",
        "ingest",
        ("feedback.received",),
        90 * DAY_MS,
        dead_letters=topics.dlq_topic(topics.RAW_FEEDBACK),
    ),
    topics.ENRICHED: TopicSpec(
        "issue-affinity key (primary theme)",
        "enrich",
        ("feedback.enriched",),
        7 * DAY_MS,
        dead_letters=topics.dlq_topic(topics.ENRICHED),
    ),
    topics.PRIORITIZED: TopicSpec(
        "issue id",
        "prioritize",
        ("feedback.prioritized", "issue.updated"),
        7 * DAY_MS,
        dead_letters=topics.dlq_topic(topics.PRIORITIZED),
    ),
    topics.CLOSED: TopicSpec("issue id", "notify", ("feedback.closed",), 7 * DAY_MS),
    topics.CUSTOMER_REQUESTS: TopicSpec(
        "customer id (requests) or customer id/service (confirmations)",
        "notify (requests); ingest, prioritize and notify (confirmations)",
        ("customer.erasure_requested", "customer.erased"),
        -1,
        cleanup_policy="compact",
    ),
    topics.AUDIT: TopicSpec(
        "target type:target id", "prioritize, notify", ("audit.recorded",), 400 * DAY_MS
    ),
    topics.ALERTS: TopicSpec(
        "alert key (spike:<theme>:<day>, digest:<Monday of the week>)",
        "prioritize",
        ("kpi.spike_detected", "kpi.weekly_digest"),
        7 * DAY_MS,
        dead_letters=topics.dlq_topic(topics.ALERTS),
    ),
    topics.TOUCHPOINTS: TopicSpec(
        "customer id",
        "the company's systems (shop, helpdesk, billing): one KafkaUser each",
        ("touchpoint.reported",),
        7 * DAY_MS,
        dead_letters=topics.dlq_topic(topics.TOUCHPOINTS),
    ),
}
# Dead-letter topics: (what lands there, who writes it, the consumer group whose failure it is).
DLQ_SPECS: dict[str, tuple[str, str, str]] = {
    topics.dlq_topic(topics.RAW_FEEDBACK): (
        "raw-feedback records enrich could not process (unreadable, unknown type or version,"
        " invalid payload, or over its time budget), unchanged, with dlq_* headers added.",
        "enrich",
        topics.CONSUMER_GROUP_ENRICH,
    ),
    topics.dlq_topic(topics.ENRICHED): (
        "enriched records prioritize could not process or store, unchanged, with dlq_* headers.",
        "prioritize",
        topics.CONSUMER_GROUP_PRIORITIZE,
    ),
    topics.dlq_topic(topics.PRIORITIZED): (
        "prioritized records notify could not process or store, unchanged, with dlq_* headers.",
        "notify",
        topics.CONSUMER_GROUP_NOTIFY,
    ),
    topics.dlq_topic(topics.ALERTS): (
        "alerts records notify could not read (unreadable, unknown type or version, invalid"
        " payload), unchanged, with dlq_* headers.",
        "notify",
        topics.CONSUMER_GROUP_NOTIFY_ALERTS,
    ),
    topics.dlq_topic(topics.TOUCHPOINTS): (
        "touchpoints records solicit could not take (unreadable, unknown type or version, or a"
        " touchpoint its REST API would refuse with 422), unchanged, with dlq_* headers.",
        "solicit",
        topics.CONSUMER_GROUP_SOLICIT,
    ),
    topics.NOTIFICATIONS_DLQ: (
        "One notification.failed record per customer notification that failed for good (after"
        " its retries): the delivery, the channel and the last error. The same list is served"
        " by notify's GET /v1/notifications/failed.",
        "notify",
        topics.CONSUMER_GROUP_NOTIFY,
    ),
}
DLQ_RETENTION_MS = 30 * DAY_MS
# Who reads which topic, in which consumer group.
CONSUMERS: tuple[tuple[str, str, str], ...] = (
    ("enrich", topics.RAW_FEEDBACK, topics.CONSUMER_GROUP_ENRICH),
    ("prioritize", topics.ENRICHED, topics.CONSUMER_GROUP_PRIORITIZE),
    ("prioritize", topics.CLOSED, topics.CONSUMER_GROUP_PRIORITIZE_CLOSED),
    ("notify", topics.PRIORITIZED, topics.CONSUMER_GROUP_NOTIFY),
    ("notify", topics.RAW_FEEDBACK, topics.CONSUMER_GROUP_NOTIFY_CONTACTS),
    ("notify", topics.ALERTS, topics.CONSUMER_GROUP_NOTIFY_ALERTS),
    ("solicit", topics.TOUCHPOINTS, topics.CONSUMER_GROUP_SOLICIT),
)
# What a consumer of a topic must know beyond its key and producer: how repeats and 503s look.
TOPIC_DELIVERY: dict[str, str] = {
    topics.RAW_FEEDBACK: (
        " Delivery is at least once and event_id is the deduplication key: the same"
        " source_system + external_id, or a retried Idempotency-Key, yields the same event_id."
        " An item ingest answered 503 may still arrive here (the broker completed the write"
        " after ingest's produce timeout), and a batch a client retries after a broker outage"
        " can put the same event_id here several times (up to four were measured). Clients"
        " retry with the same Idempotency-Key (never a new one), so a retry is a repeat, not a"
        " second item; consumers drop repeats by event_id, as every feedloop stage does."
    ),
    topics.ALERTS: (
        " Each alert is emitted once (prioritize stores its key in kpi_alert with the outbox"
        " row); a repeat on the topic has the same event_id and alert_key, and notify delivers"
        " an alert once per subscription (alert_delivery is unique per subscription and key)."
        " Records carry counts, themes, days and issue ids only, never customer data or issue"
        " titles (which may quote customers): there is nothing to erase; 7 days' retention."
    ),
    topics.TOUCHPOINTS: (
        " A touchpoint is recognised by (touchpoint.source_system, touchpoint.touchpoint_id),"
        " whether it came here or to solicit's POST /v1/touchpoints first: a repeat is decided"
        " once, so producers may retry freely. Key by customer id so one customer's touchpoints"
        " stay in order. Records hold the customer's id, e-mail and locale: 7 days' retention"
        " is how they are erased from the topic (solicit erases what it stored on"
        " customer.erasure_requested and never stores an erased customer's touchpoint again)."
    ),
}
AT_LEAST_ONCE = (
    " Delivery is at least once: drop repeats by event_id (the ce_id header). Records of one"
    " key stay in order (one partition)."
)

_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
CLOUDEVENTS_HEADERS: dict[str, dict[str, Any]] = {
    topics.HEADER_ID: _TEXT
    | {"description": "CloudEvents id: the event_id, the deduplication key."},
    topics.HEADER_TYPE: _TEXT | {"description": "CloudEvents type: the event_type."},
    topics.HEADER_SOURCE: _TEXT | {"description": "CloudEvents source: the producing service."},
    topics.HEADER_TIME: _TIME | {"description": "CloudEvents time: occurred_at (RFC 3339)."},
    topics.HEADER_SPECVERSION: _TEXT
    | {"const": "1.0", "description": "CloudEvents specification version."},
    topics.HEADER_SCHEMA_VERSION: _DIGITS
    | {"description": "The payload's schema_version (extension attribute)."},
    topics.HEADER_CORRELATION_ID: _TEXT
    | {"description": "Follows one item through every stage (extension attribute)."},
    topics.HEADER_CONTENT_TYPE: _TEXT
    | {"const": "application/json", "description": "CloudEvents datacontenttype."},
}
DLQ_HEADERS: dict[str, dict[str, Any]] = {
    topics.HEADER_DLQ_REASON: _TEXT
    | {"enum": [str(r) for r in DeadLetterReason], "description": "Why it was dead-lettered."},
    topics.HEADER_DLQ_ERROR: _TEXT
    | {"maxLength": 4000, "description": "The error, cut to 4,000 characters."},
    topics.HEADER_DLQ_SOURCE_TOPIC: _TEXT | {"description": "The topic the record was read from."},
    topics.HEADER_DLQ_SOURCE_PARTITION: _DIGITS | {"description": "Its partition there."},
    topics.HEADER_DLQ_SOURCE_OFFSET: _DIGITS | {"description": "Its offset there."},
    topics.HEADER_DLQ_CONSUMER_GROUP: _TEXT | {"description": "The group that failed on it."},
    topics.HEADER_DLQ_FAILED_AT: _TIME | {"description": "When it was dead-lettered."},
    topics.HEADER_DLQ_REPLAY_COUNT: _DIGITS
    | {"description": "How often it was replayed from a DLQ before (0 the first time)."},
    topics.HEADER_DLQ_VALUE_TRUNCATED: _DIGITS
    | {
        "description": "Only when the value was cut to fit the broker: its original size in"
        " bytes (the original stays in the source topic until its retention ends)."
    },
}
NOTIFICATION_FAILED: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": NOTIFICATION_FAILED_TYPE,
    "description": "A customer notification that failed after its retries.",
    "type": "object",
    "required": [
        "delivery_id",
        "customer_id",
        "issue_id",
        "kind",
        "round",
        "channel",
        "source_system",
        "attempts",
        "error",
        "failed_at",
    ],
    "properties": {
        "delivery_id": _TEXT | {"description": "The delivery's id (its idempotency key)."},
        "customer_id": _TEXT,
        "issue_id": _TEXT,
        "kind": _TEXT | {"description": "What the notification said (e.g. resolved)."},
        "round": {"type": "integer", "description": "Which resolution of the issue."},
        "channel": _TEXT | {"description": "webhook or email."},
        "source_system": _TEXT,
        "attempts": {"type": "integer", "minimum": 1},
        "error": _TEXT | {"description": "The last attempt's error."},
        "failed_at": _TIME,
    },
}


def event_schema(event_type: str, version: int = 1) -> dict[str, Any]:
    """Returns the JSON Schema (2020-12) of one event type's envelope."""
    model = EVENT_TYPES[event_type]
    schema = Envelope[model].model_json_schema(mode="serialization")  # type: ignore[valid-type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{SCHEMA_BASE}{event_type}.v{version}.json"
    schema["title"] = f"{event_type} v{version}"
    schema["description"] = (model.__doc__ or "").strip()
    props = schema["properties"]
    props["event_type"] = {"const": event_type, "type": "string", "title": "Event Type"}
    props["schema_version"] = {"const": version, "type": "integer", "title": "Schema Version"}
    require_discriminators(schema, schema.get("$defs", {}))
    return schema


def _id(name: str) -> str:
    return name.replace(".", "_").replace("-", "_")


def _headers(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _channel_bindings(topic: str, spec: TopicSpec | None) -> dict[str, Any]:
    partitions, replicas = (spec.partitions, spec.replicas) if spec else (12, 3)
    retention = spec.retention_ms if spec else DLQ_RETENTION_MS
    policy = spec.cleanup_policy if spec else "delete"
    return {
        "kafka": {
            "topic": topic,
            "partitions": partitions,
            "replicas": replicas,
            "topicConfiguration": {"cleanup.policy": [policy], "retention.ms": retention},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _key_binding(key: str) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": f"UTF-8 {key}."},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _event_message(event_type: str, key: str) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": event_type,
        "contentType": "application/json",
        "summary": (EVENT_TYPES[event_type].__doc__ or "").strip(),
        "description": (
            "CloudEvents 1.0 in Kafka binary mode: the envelope is the value, its attributes"
            " travel as ce_* headers. Decode with any CloudEvents SDK."
        ),
        "headers": _headers(
            CLOUDEVENTS_HEADERS
            | {topics.HEADER_TYPE: CLOUDEVENTS_HEADERS[topics.HEADER_TYPE] | {"const": event_type}},
            list(CLOUDEVENTS_HEADERS),
        ),
        "payload": {
            "schemaFormat": JSON_SCHEMA_FORMAT,
            "schema": {"$ref": f"./schemas/{event_type}.v1.json"},
        },
        "bindings": _key_binding(key),
    }


def _dead_letter_message(source_topic: str, key: str) -> dict[str, Any]:
    optional = {
        name: spec | {"description": f"{spec['description']} Kept from the original record."}
        for name, spec in CLOUDEVENTS_HEADERS.items()
    }
    required = [h for h in DLQ_HEADERS if h != topics.HEADER_DLQ_VALUE_TRUNCATED]
    return {
        "name": f"{source_topic}.dead_letter",
        "title": f"dead letter of {source_topic}",
        "summary": f"A {source_topic} record its consumer could not process.",
        "description": (
            "The original record, unchanged: same key, same value bytes (not necessarily JSON,"
            " nor valid: that may be why it is here), its original headers, and the dlq_*"
            " headers. Replaying it to the source topic strips the dlq_* headers and counts"
            " dlq_replay_count."
        ),
        "headers": _headers(optional | DLQ_HEADERS, required),
        "payload": {
            "schemaFormat": JSON_SCHEMA_FORMAT,
            "schema": {"description": "The original record's value, as it was read."},
        },
        "bindings": _key_binding(key),
    }


def _notification_failed_message() -> dict[str, Any]:
    names = (
        topics.HEADER_ID,
        topics.HEADER_TYPE,
        topics.HEADER_SOURCE,
        topics.HEADER_TIME,
        topics.HEADER_CONTENT_TYPE,
    )
    headers = {name: CLOUDEVENTS_HEADERS[name] for name in names} | {
        topics.HEADER_TYPE: CLOUDEVENTS_HEADERS[topics.HEADER_TYPE]
        | {"const": NOTIFICATION_FAILED_TYPE},
        topics.HEADER_DLQ_REASON: _TEXT
        | {
            "const": str(DeadLetterReason.DELIVERY_FAILED),
            "description": DLQ_HEADERS[topics.HEADER_DLQ_REASON]["description"],
        },
        topics.HEADER_DLQ_ERROR: DLQ_HEADERS[topics.HEADER_DLQ_ERROR],
        topics.HEADER_DLQ_CONSUMER_GROUP: DLQ_HEADERS[topics.HEADER_DLQ_CONSUMER_GROUP],
        topics.HEADER_DLQ_FAILED_AT: DLQ_HEADERS[topics.HEADER_DLQ_FAILED_AT],
    }
    return {
        "name": NOTIFICATION_FAILED_TYPE,
        "title": NOTIFICATION_FAILED_TYPE,
        "contentType": "application/json",
        "summary": "A customer notification that failed for good.",
        "description": (
            "Not a CloudEvent (no ce_specversion header): read it as plain JSON. ce_id is"
            " deterministic per delivery and attempt count, the deduplication key."
        ),
        "headers": _headers(headers, list(headers)),
        "payload": {"schemaFormat": JSON_SCHEMA_FORMAT, "schema": NOTIFICATION_FAILED},
        "bindings": _key_binding("issue id"),
    }


def _operation(
    action: str, channel_id: str, summary: str, group: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": summary,
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return operation


def _topic_channels(
    channels: dict[str, Any], operations: dict[str, Any], messages: dict[str, Any]
) -> None:
    """The pipeline topics: a channel, its messages and the producer's send operation each."""
    for topic, spec in TOPIC_SPECS.items():
        channel_id = _id(topic)
        for event_type in spec.event_types:
            messages[_id(event_type)] = _event_message(event_type, spec.key)
        dead = f" Dead letters: {spec.dead_letters}." if spec.dead_letters else ""
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": f"Keyed by {spec.key}. Produced by {spec.producer}.{dead}"
            + (TOPIC_DELIVERY.get(topic) or AT_LEAST_ONCE),
            "messages": {
                _id(t): {"$ref": f"#/components/messages/{_id(t)}"} for t in spec.event_types
            },
            "bindings": _channel_bindings(topic, spec),
        }
        operations[f"publish_{channel_id}"] = _operation(
            "send", channel_id, f"{spec.producer} publishes to {topic}"
        )


def _dead_letter_channels(
    channels: dict[str, Any], operations: dict[str, Any], messages: dict[str, Any]
) -> None:
    """Every DLQ topic: a channel, its dead-letter message and the send operation each."""
    for topic, (description, producer, group) in DLQ_SPECS.items():
        channel_id = _id(topic)
        if topic == topics.NOTIFICATIONS_DLQ:
            message_id = "notification_failed"
            messages[message_id] = _notification_failed_message()
        else:
            source = topic.removesuffix(".dlq")
            message_id = f"{_id(source)}_dead_letter"
            messages[message_id] = _dead_letter_message(source, TOPIC_SPECS[source].key)
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": f"Dead letters: {description} Kept 30 days.",
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": _channel_bindings(topic, None),
        }
        operations[f"dead_letter_{channel_id}"] = _operation(
            "send", channel_id, f"{producer} ({group}) dead-letters to {topic}"
        )


def asyncapi_document() -> dict[str, Any]:
    """Returns an AsyncAPI 3.0 document of the topics, their keys, bindings and messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    _topic_channels(channels, operations, messages)
    _dead_letter_channels(channels, operations, messages)
    for service, topic, group in CONSUMERS:
        channel_id = _id(topic)
        operations[f"{service}_receives_{channel_id}"] = _operation(
            "receive", channel_id, f"{service} reads {topic} in group {group}", group
        )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "feedloop events",
            "version": "1.0.0",
            "description": (
                "Every event shares one envelope (event_id, event_type, schema_version, "
                "occurred_at, producer, correlation_id, payload), JSON encoded, with CloudEvents "
                "ce_* headers (Kafka binary mode). Additive changes keep schema_version; breaking"
                " ones publish a new schema version and event type version side by side (see"
                " docs/consuming.md)."
            ),
            "license": {"name": "Proprietary", "url": "https://feedloop.dev/license"},
        },
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "`make kafka-up`: one broker, no TLS, no authentication.",
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION}},
            },
            "cluster": {
                "host": "feedloop-kafka-bootstrap:9092",
                "protocol": "kafka-secure",
                "description": "In-cluster Strimzi listener: TLS (cluster CA) and SCRAM-SHA-512.",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION}},
            },
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "scram": {
                    "type": "scramSha512",
                    "description": "One KafkaUser per client; its ACLs name its topics and groups.",
                }
            },
        },
    }


def render_all() -> dict[str, bytes]:
    """Returns every generated contract file by its path relative to docs/events/."""
    files: dict[str, bytes] = {}
    for event_type in EVENT_TYPES:
        schema = event_schema(event_type)
        files[f"schemas/{event_type}.v1.json"] = (
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    # A JSON round trip unshares the header specs reused across messages: no YAML anchors.
    document = orjson.loads(orjson.dumps(asyncapi_document()))
    files["asyncapi.yaml"] = yaml.safe_dump(document, sort_keys=False).encode()
    return files


def write_all(docs_dir: Path) -> list[Path]:
    """Writes the generated contracts under docs_dir/events; returns the paths written."""
    written = []
    for relative, content in render_all().items():
        path = docs_dir / "events" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written
