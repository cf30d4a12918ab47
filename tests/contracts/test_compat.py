"""The compatibility check fails on changes that break a consumer and passes additive ones.

Each test copies the real contracts (docs/events/schemas, docs/openapi) as the released
version, edits the current copy as a developer would, and runs the checker on the pair.
"""

import copy
import datetime
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from scripts.contract_compat import CURRENT, RELEASED_DOCS, Documents, check

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.date(2027, 1, 1)

Edit = Callable[[dict[str, Any]], None]


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(path.read_bytes())
    return loaded


def save(path: Path, document: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Documents, Documents]:
    """(released, current): two copies of today's contracts."""
    made = []
    for name in ("released", "current"):
        docs = Documents(tmp_path / name / "events", tmp_path / name / "openapi")
        shutil.copytree(CURRENT.events, docs.events)
        shutil.copytree(CURRENT.openapi, docs.openapi)
        made.append(docs)
    return made[0], made[1]


def edit_event(docs: Documents, name: str, change: Edit) -> None:
    path = docs.events / f"{name}.json"
    document = load(path)
    change(document)
    save(path, document)


def edit_openapi(docs: Documents, service: str, change: Edit) -> None:
    path = docs.openapi / f"{service}.json"
    document = load(path)
    change(document)
    save(path, document)


def closed_payload(schema: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = schema["$defs"]["FeedbackClosed"]
    return payload


def test_the_repository_contracts_are_compatible_with_their_released_versions() -> None:
    assert check(RELEASED_DOCS, CURRENT) == []
    done = subprocess.run(
        [sys.executable, "-m", "scripts.contract_compat"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_an_unchanged_copy_is_compatible(pair: tuple[Documents, Documents]) -> None:
    assert check(*pair, manifest={}, today=TODAY) == []


def _remove_field(schema: dict[str, Any]) -> None:
    payload = closed_payload(schema)
    del payload["properties"]["outcome"]
    payload["required"].remove("outcome")


def _rename_field(schema: dict[str, Any]) -> None:
    payload = closed_payload(schema)
    payload["properties"]["result"] = payload["properties"].pop("outcome")
    payload["required"] = ["result" if r == "outcome" else r for r in payload["required"]]


def _narrow_type(schema: dict[str, Any]) -> None:
    closed_payload(schema)["properties"]["time_to_close_seconds"]["type"] = "integer"


def _new_required_field(schema: dict[str, Any]) -> None:
    payload = closed_payload(schema)
    payload["properties"]["region"] = {"type": "string"}
    payload["required"].append("region")


def _remove_enum_value(schema: dict[str, Any]) -> None:
    outcome = closed_payload(schema)["properties"]["outcome"]
    outcome["enum"] = outcome["enum"][1:]


def _optional_now(schema: dict[str, Any]) -> None:
    closed_payload(schema)["required"].remove("issue_id")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_remove_field, "outcome: field removed"),
        (_rename_field, "outcome: field removed (or renamed)"),
        (_narrow_type, "time_to_close_seconds: type narrowed"),
        (_new_required_field, "region: new required field"),
        (_remove_enum_value, "outcome: enum values removed"),
        (_optional_now, "issue_id: no longer required"),
    ],
)
def test_a_breaking_event_change_fails(
    pair: tuple[Documents, Documents], change: Edit, expected: str
) -> None:
    released, current = pair
    edit_event(current, "feedback.closed.v1", change)

    problems = check(released, current, manifest={}, today=TODAY)

    assert problems, "a breaking change passed"
    assert all(p.startswith("event feedback.closed.v1: payload.") for p in problems)
    assert any(expected in p for p in problems), problems


def test_an_additive_event_change_passes(pair: tuple[Documents, Documents]) -> None:
    released, current = pair

    def add(schema: dict[str, Any]) -> None:
        payload = closed_payload(schema)
        payload["properties"]["region"] = {"type": ["string", "null"], "default": None}
        payload["properties"]["outcome"]["enum"].append("bounced")  # consumers tolerate new values

    edit_event(current, "feedback.closed.v1", add)
    assert check(released, current, manifest={}, today=TODAY) == []


def test_a_breaking_change_published_side_by_side_as_a_new_version_passes(
    pair: tuple[Documents, Documents],
) -> None:
    released, current = pair
    v2 = load(current.events / "feedback.closed.v1.json")
    _rename_field(v2)
    v2["properties"]["schema_version"]["const"] = 2
    save(current.events / "feedback.closed.v2.json", v2)  # v1 stays as it was

    assert check(released, current, manifest={}, today=TODAY) == []


def test_a_released_version_stays_until_its_deprecation_ends(
    pair: tuple[Documents, Documents],
) -> None:
    released, current = pair
    (current.events / "feedback.closed.v1.json").unlink()
    deprecated = {"deprecated": {"feedback.closed.v1": {"until": "2027-03-01"}}}

    assert check(released, current, manifest={}, today=TODAY) == [
        "event feedback.closed.v1: removed before its deprecation period ended"
    ]
    assert check(released, current, manifest=deprecated, today=TODAY) != []
    after = datetime.date(2027, 3, 1)
    assert check(released, current, manifest=deprecated, today=after) == []


def _issue_schema(document: dict[str, Any]) -> dict[str, Any]:
    ref = document["paths"]["/v1/issues/{issue_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def test_a_breaking_response_change_fails_and_an_additive_one_passes(
    pair: tuple[Documents, Documents],
) -> None:
    released, current = pair
    original = load(current.openapi / "prioritize.json")
    field = next(iter(_issue_schema(original)["required"]))

    def remove(document: dict[str, Any]) -> None:
        schema = _issue_schema(document)
        del schema["properties"][field]
        schema["required"].remove(field)

    edit_openapi(current, "prioritize", remove)
    problems = check(released, current, manifest={}, today=TODAY)
    assert any(
        p.startswith("prioritize GET /v1/issues/{issue_id} 200 application/json:")
        and f"{field}: field removed" in p
        for p in problems
    ), problems

    def add(document: dict[str, Any]) -> None:
        schema = _issue_schema(document)
        schema["properties"]["owner_team"] = {"type": "string"}
        schema["required"].append("owner_team")  # a new field always sent: additive

    save(current.openapi / "prioritize.json", copy.deepcopy(original))
    edit_openapi(current, "prioritize", add)
    assert check(released, current, manifest={}, today=TODAY) == []


def test_a_removed_operation_fails(pair: tuple[Documents, Documents]) -> None:
    released, current = pair
    edit_openapi(current, "notify", lambda d: d["paths"].pop("/v1/notifications/failed"))
    assert check(released, current, manifest={}, today=TODAY) == [
        "notify GET /v1/notifications/failed: removed before its deprecation period ended"
    ]
