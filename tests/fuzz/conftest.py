"""Live ingest and prioritize processes on the test broker, and their OpenAPI documents."""

import asyncio
import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.platform import Platform
from tests.support.keys import TEST_API_KEY

API_KEY = TEST_API_KEY  # the development key works in local mode only
# Bounded so each API fuzzes in seconds; raise it for a deeper run (FEEDLOOP_FUZZ_EXAMPLES=500).
EXAMPLES = int(os.environ.get("FEEDLOOP_FUZZ_EXAMPLES", "40"))
ROOT = Path(__file__).resolve().parents[2]

# Every error answer of both services is RFC 9457 problem+json (ARCHITECTURE.md, ingest spec).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
# What the fuzz tests assert of every response. Schemathesis' request-side checks
# (positive_data_acceptance, negative_data_rejection, unsupported_method) judge how precisely
# the documents describe validation; what they found is pinned in test_fuzz_contract_gaps.py.
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ERROR_STATUSES = ("400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "503")


def committed_document(service: str) -> dict[str, Any]:
    """The committed OpenAPI document (tests/test_contracts.py keeps it equal to the app's)."""
    document: dict[str, Any] = orjson.loads(
        (ROOT / "docs" / "openapi" / f"{service}.json").read_bytes()
    )
    return document


def with_problem_errors(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every error status a fuzzer can provoke allowed, as problem+json.

    The committed documents list the errors each route answers by design (problem+json,
    checked in test_fuzz_contract_gaps.py); this adds the ones any route may give to a
    generated request (404 on a random id, 405, 415) so the fuzzing judges the rest.
    """
    amended = copy.deepcopy(document)
    for operations in amended["paths"].values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in ERROR_STATUSES:
                description = responses.get(status, {}).get("description", "Problem")
                responses[status] = {
                    "description": description,
                    "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
                }
    return amended


def _live(stage: str, bootstrap: str, workdir: Path, **env: str) -> Platform:
    prefix = f"fz{uuid.uuid4().hex[:8]}."
    asyncio.run(
        ensure_topics(
            ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix),
            partitions=3,
        )
    )
    platform = Platform(
        bootstrap=bootstrap,
        prefix=prefix,
        workdir=workdir,
        extra_env={stage: {f"FEEDLOOP_{stage.upper()}_{k}": v for k, v in env.items()}},
    )
    asyncio.run(platform.start(stage))
    return platform


@pytest.fixture(scope="package")
def live_ingest(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ingest process on the test broker; yields its base URL."""
    platform = _live("ingest", kafka_bootstrap, tmp_path_factory.mktemp("fuzz-ingest"))
    yield platform.processes["ingest"].url
    platform.stop_all()


@pytest.fixture(scope="package")
def live_prioritize(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real prioritize process (API only, temp SQLite); yields its base URL."""
    platform = _live(
        "prioritize", kafka_bootstrap, tmp_path_factory.mktemp("fuzz-prioritize"), CONSUME="false"
    )
    yield platform.processes["prioritize"].url
    platform.stop_all()
