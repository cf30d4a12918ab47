"""The committed event contracts (JSON Schema, AsyncAPI) and OpenAPI documents are current."""

import importlib.util
from pathlib import Path

import orjson
from feedloop.common.contracts import render_all
from feedloop.common.events import EVENT_TYPES, Envelope, FeedbackClosed, deterministic_id

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> object:
    path = ROOT / "scripts" / "gen_contracts.py"
    spec = importlib.util.spec_from_file_location("gen_contracts", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_event_contracts_match_the_models() -> None:
    stale = [
        relative
        for relative, content in render_all().items()
        if (ROOT / "docs/events" / relative).read_bytes() != content
    ]
    assert not stale, f"stale contracts {stale}: run `make contracts` and commit docs/"


def test_committed_openapi_documents_match_the_apps() -> None:
    generated = _generator().openapi_documents()  # type: ignore[attr-defined]
    stale = [
        rel for rel, content in generated.items() if (ROOT / "docs" / rel).read_bytes() != content
    ]
    assert not stale, f"stale OpenAPI {stale}: run `make contracts` and commit docs/"


def test_every_event_type_has_a_schema_pinning_its_type_and_version() -> None:
    for event_type in EVENT_TYPES:
        schema = orjson.loads((ROOT / f"docs/events/schemas/{event_type}.v1.json").read_bytes())
        assert schema["properties"]["event_type"]["const"] == event_type
        assert schema["properties"]["schema_version"]["const"] == 1
        assert "payload" in schema["required"]


def test_event_ids_are_deterministic_for_the_same_input() -> None:
    assert deterministic_id("closed", "f-1") == deterministic_id("closed", "f-1")
    assert deterministic_id("closed", "f-1") != deterministic_id("closed", "f-2")


def test_an_envelope_round_trips_through_json() -> None:
    payload = FeedbackClosed(
        feedback_id="f",
        issue_id="i",
        customer_id="c",
        channel="email",
        outcome="delivered",
        delivered_at="2026-11-24T10:00:00Z",
        closed_at="2026-11-24T10:00:00Z",
        time_to_close_seconds=12.5,
    )
    envelope = Envelope.wrap(payload, event_id="e", producer="notify", correlation_id="c")
    again = Envelope[FeedbackClosed].model_validate_json(envelope.model_dump_json())
    assert again == envelope


def test_raw_feedback_channel_tells_consumers_that_event_id_is_the_deduplication_key() -> None:
    import yaml

    doc = yaml.safe_load((ROOT / "docs/events/asyncapi.yaml").read_bytes())
    (channel,) = [c for c in doc["channels"].values() if c["address"] == "raw-feedback"]
    description = channel["description"]
    assert "event_id is the deduplication key" in description
    assert "answered 503 may still arrive" in description
    assert "retry with the same Idempotency-Key" in description
