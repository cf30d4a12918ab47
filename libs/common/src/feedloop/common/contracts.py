"""JSON Schema and AsyncAPI documents generated from the event models (committed under docs/)."""

from pathlib import Path
from typing import Any

import orjson
import yaml
from feedloop.common import topics
from feedloop.common.events import EVENT_TYPES, Envelope

SCHEMA_BASE = "https://feedloop.dev/schemas/events/"

TOPIC_DOCS: dict[str, tuple[str, str, list[str]]] = {
    topics.RAW_FEEDBACK: ("customer id", "ingest", ["feedback.received"]),
    topics.ENRICHED: ("issue-affinity key (primary theme)", "enrich", ["feedback.enriched"]),
    topics.PRIORITIZED: ("issue id", "prioritize", ["feedback.prioritized", "issue.updated"]),
    topics.CLOSED: ("issue id", "notify", ["feedback.closed"]),
}
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
    return schema


def asyncapi_document() -> dict[str, Any]:
    """Returns an AsyncAPI 3.0 document of the topics, their keys and messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        messages[event_type.replace(".", "_")] = {
            "name": event_type,
            "title": event_type,
            "contentType": "application/json",
            "summary": (EVENT_TYPES[event_type].__doc__ or "").strip(),
            "payload": {"$ref": f"./schemas/{event_type}.v1.json"},
            "headers": {
                "type": "object",
                "properties": {
                    name: {"type": "string"}
                    for name in (
                        topics.HEADER_ID,
                        topics.HEADER_TYPE,
                        topics.HEADER_SOURCE,
                        topics.HEADER_TIME,
                        topics.HEADER_SPECVERSION,
                        topics.HEADER_SCHEMA_VERSION,
                        topics.HEADER_CORRELATION_ID,
                    )
                },
            },
        }
    for topic, (key, producer, types) in TOPIC_DOCS.items():
        channel_id = topic.replace("-", "_")
        channels[channel_id] = {
            "address": topic,
            "description": f"Keyed by {key}. Produced by {producer}. Dead letters: {topic}.dlq."
            + TOPIC_DELIVERY.get(topic, ""),
            "messages": {
                t.replace(".", "_"): {"$ref": f"#/components/messages/{t.replace('.', '_')}"}
                for t in types
            },
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{producer} publishes to {topic}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "feedloop events",
            "version": "1.0.0",
            "description": (
                "Every event shares one envelope (event_id, event_type, schema_version, "
                "occurred_at, producer, correlation_id, payload), JSON encoded, with CloudEvents "
                "ce_* headers. Additive changes keep schema_version; breaking ones bump it."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render_all() -> dict[str, bytes]:
    """Returns every generated contract file by its path relative to docs/events/."""
    files: dict[str, bytes] = {}
    for event_type in EVENT_TYPES:
        schema = event_schema(event_type)
        files[f"schemas/{event_type}.v1.json"] = (
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi_document(), sort_keys=False).encode()
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
