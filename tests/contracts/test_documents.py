"""What the published documents promise matches the code and the cluster's topics.

The validators themselves (AsyncAPI CLI, Redocly, openapi-spec-validator, check-jsonschema)
run in `make contracts-check`; these tests pin the content they cannot know about.
"""

import importlib
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from feedloop.common import topics
from feedloop.common.contracts import CONSUMERS, DLQ_SPECS, TOPIC_SPECS
from feedloop.common.openapi import API_KEY_SCHEME, BEARER_SCHEME, HEALTH_PATHS
from feedloop.common.problems import PROBLEM_MEDIA_TYPE

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "docs" / "events" / "asyncapi.yaml"
KAFKA_TOPICS = ROOT / "deploy" / "k8s" / "base" / "kafka" / "topics.yaml"
SERVICES = ("ingest", "enrich", "prioritize", "notify")


def asyncapi() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_bytes())
    return loaded


def openapi(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(
        (ROOT / "docs" / "openapi" / f"{service}.json").read_bytes()
    )
    return loaded


def cluster_topics() -> dict[str, dict[str, Any]]:
    found = {}
    for document in yaml.safe_load_all(KAFKA_TOPICS.read_text()):
        if document and document.get("kind") == "KafkaTopic":
            found[document["spec"]["topicName"]] = document["spec"]
    return found


def channels_by_topic() -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in asyncapi()["channels"].values()}


def test_every_topic_of_the_cluster_is_a_channel_and_no_other() -> None:
    assert set(channels_by_topic()) == set(cluster_topics()) == set(topics.ALL_TOPICS)


@pytest.mark.parametrize("topic", topics.ALL_TOPICS)
def test_channel_bindings_agree_with_the_kafka_topic_resource(topic: str) -> None:
    spec = cluster_topics()[topic]
    binding = channels_by_topic()[topic]["bindings"]["kafka"]
    assert binding["topic"] == topic
    assert binding["partitions"] == spec["partitions"]
    assert binding["replicas"] == spec["replicas"]
    config = binding["topicConfiguration"]
    assert config["retention.ms"] == spec["config"]["retention.ms"]
    assert config["cleanup.policy"] == [spec["config"]["cleanup.policy"]]


def test_no_channel_names_a_dead_letter_topic_nothing_writes() -> None:
    text = ASYNCAPI.read_text()
    assert "closed.dlq" not in text
    assert "notifications.dlq" in channels_by_topic()
    assert TOPIC_SPECS[topics.CLOSED].dead_letters is None


def test_every_consumer_group_has_a_receive_operation() -> None:
    doc = asyncapi()
    receives = {
        (doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"], group)
        for op in doc["operations"].values()
        if op["action"] == "receive"
        for group in op["bindings"]["kafka"]["groupId"]["enum"]
    }
    assert receives == {(topic, group) for _, topic, group in CONSUMERS}
    assert {group for _, _, group in CONSUMERS} == {
        topics.CONSUMER_GROUP_ENRICH,
        topics.CONSUMER_GROUP_PRIORITIZE,
        topics.CONSUMER_GROUP_PRIORITIZE_CLOSED,
        topics.CONSUMER_GROUP_NOTIFY,
        topics.CONSUMER_GROUP_NOTIFY_CONTACTS,
        topics.CONSUMER_GROUP_NOTIFY_ALERTS,
        topics.CONSUMER_GROUP_SOLICIT,
    }


def test_every_channel_has_a_send_operation() -> None:
    doc = asyncapi()
    sent = {
        doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
        for op in doc["operations"].values()
        if op["action"] == "send"
    }
    assert sent == set(topics.ALL_TOPICS)


def test_event_messages_carry_json_schema_payloads_and_required_cloudevents_headers() -> None:
    messages = asyncapi()["components"]["messages"]
    for event_type in ("feedback.received", "feedback.enriched", "feedback.closed"):
        message = messages[event_type.replace(".", "_")]
        assert message["payload"]["schemaFormat"].startswith("application/schema+json")
        headers = message["headers"]
        assert set(headers["required"]) == {
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_time",
            "ce_specversion",
            "ce_schemaversion",
            "ce_correlationid",
            "content-type",
        }
        properties = headers["properties"]
        assert properties["ce_specversion"]["const"] == "1.0"
        assert properties["ce_time"]["format"] == "date-time"
        assert properties["ce_type"]["const"] == event_type
        assert all(p.get("description") for p in properties.values())
        assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_dead_letter_messages_document_every_dlq_header() -> None:
    doc = asyncapi()
    dlq_headers = {
        topics.HEADER_DLQ_REASON,
        topics.HEADER_DLQ_ERROR,
        topics.HEADER_DLQ_SOURCE_TOPIC,
        topics.HEADER_DLQ_SOURCE_PARTITION,
        topics.HEADER_DLQ_SOURCE_OFFSET,
        topics.HEADER_DLQ_CONSUMER_GROUP,
        topics.HEADER_DLQ_FAILED_AT,
        topics.HEADER_DLQ_REPLAY_COUNT,
        topics.HEADER_DLQ_VALUE_TRUNCATED,
    }
    for topic in DLQ_SPECS:
        channel = channels_by_topic()[topic]
        (ref,) = [m["$ref"] for m in channel["messages"].values()]
        message = doc["components"]["messages"][ref.rsplit("/", 1)[-1]]
        properties = message["headers"]["properties"]
        if topic == topics.NOTIFICATIONS_DLQ:
            assert properties[topics.HEADER_DLQ_REASON]["const"] == "delivery_failed"
            assert message["payload"]["schema"]["required"]
        else:
            assert dlq_headers <= set(properties)
            assert topics.HEADER_DLQ_VALUE_TRUNCATED not in message["headers"]["required"]


@pytest.mark.parametrize("service", SERVICES)
def test_protected_operations_declare_both_schemes_and_health_routes_none(service: str) -> None:
    doc = openapi(service)
    schemes = doc["components"]["securitySchemes"]
    assert schemes[API_KEY_SCHEME] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The client's API key.",
    }
    assert schemes[BEARER_SCHEME]["scheme"] == "bearer"
    assert doc["servers"]
    protected = 0
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if path in HEALTH_PATHS:
                assert operation["security"] == []
                continue
            assert path.startswith("/v1/")
            assert operation["security"] == [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]
            assert "WWW-Authenticate" in responses["401"]["headers"]
            for code in ("429", "503"):
                if code in responses:
                    assert "Retry-After" in responses[code]["headers"]
            protected += 1
    assert protected >= 1
    readyz = doc["paths"]["/readyz"]["get"]["responses"]
    assert {"200", "503"} <= set(readyz)


def test_discriminator_fields_are_required_in_every_branch() -> None:
    schemas = openapi("ingest")["components"]["schemas"]
    for name in ("SurveyFeedback", "ReviewFeedback", "EmailFeedback", "InAppFeedback"):
        assert "channel" in schemas[name]["required"]
    for name in ("NpsAnswer", "CsatAnswer", "CesAnswer"):
        assert "metric" in schemas[name]["required"]
    received = orjson.loads((ROOT / "docs/events/schemas/feedback.received.v1.json").read_bytes())
    assert "channel" in received["$defs"]["ChatFeedback"]["required"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_apps_answer_what_the_documents_declare(service: str) -> None:
    """/readyz's body fits the declared schema (503 with nothing started: its lifespan is not
    run here); a protected route without a key answers 401 with WWW-Authenticate."""
    app = importlib.import_module(f"feedloop.{service}.app").create_app()
    doc = openapi(service)
    client = TestClient(app)  # no lifespan: no producer, no consumer started
    answer = client.get("/readyz")
    assert answer.status_code in (200, 503)
    schemas = doc["components"]["schemas"]
    jsonschema.validate(answer.json(), schemas["Readiness"])
    method, path = next(
        (method, path)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if "401" in operation["responses"] and "{" not in path
    )
    refused = client.request(method.upper(), path, json={})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert refused.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_documents_pass_openapi_spec_validator(service: str) -> None:
    from openapi_spec_validator import validate

    validate(openapi(service))  # raises on the first error


def test_event_schemas_pass_their_metaschema() -> None:
    paths = sorted((ROOT / "docs" / "events").glob("**/*.v*.json"))
    assert len(paths) >= 10  # current and released
    for path in paths:
        schema = orjson.loads(path.read_bytes())
        jsonschema.validators.validator_for(schema).check_schema(schema)
