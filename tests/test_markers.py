"""A test that reaches the broker through any fixture carries the `kafka` marker (conftest.py)."""

import ast
import re
from pathlib import Path

import pytest

from conftest import BROKER_FIXTURES, pytest_collection_modifyitems

ROOT = Path(__file__).resolve().parents[1]


class FakeItem:
    def __init__(self, *fixturenames: str) -> None:
        self.fixturenames = list(fixturenames)
        self.markers: list[pytest.MarkDecorator] = []

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker)


def test_the_hook_marks_exactly_the_tests_whose_fixture_closure_reaches_the_broker() -> None:
    # A fixture closure lists every fixture reached, e.g. app_client -> topic_prefix.
    through_app = FakeItem("app_client", "topic_prefix", "kafka_bootstrap", "tmp_path")
    direct = FakeItem("raw_producer", "kafka_bootstrap")
    offline = FakeItem("tmp_path", "postgres_url")
    pytest_collection_modifyitems([through_app, direct, offline])  # type: ignore[list-item]
    assert [m.name for m in through_app.markers] == ["kafka"]
    assert [m.name for m in direct.markers] == ["kafka"]
    assert offline.markers == []


def test_every_collected_test_that_reaches_the_broker_is_marked(
    request: pytest.FixtureRequest,
) -> None:
    """In a whole run, this checks every test of the session; the unmarked ones would fail it."""
    reaching = [
        item
        for item in request.session.items
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ()))
    ]
    unmarked = [item.nodeid for item in reaching if item.get_closest_marker("kafka") is None]
    assert unmarked == []


def test_the_folders_test_fast_skips_hold_only_broker_or_slow_tests() -> None:
    """`make test-fast` does not even collect these folders: each module must be marked."""
    makefile = (ROOT / "Makefile").read_text()
    dirs = re.search(r"^BROKER_ONLY_TEST_DIRS := (.+)$", makefile, re.MULTILINE)
    assert dirs, "BROKER_ONLY_TEST_DIRS is gone from the Makefile"
    unmarked = []
    for folder in dirs.group(1).split():
        for module in sorted((ROOT / folder).glob("test_*.py")):
            marks = [
                ast.get_source_segment(module.read_text(), node) or ""
                for node in ast.parse(module.read_text()).body
                if isinstance(node, ast.Assign)
                and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
            ]
            if not any("mark.kafka" in m or "mark.slow" in m for m in marks):
                unmarked.append(module.relative_to(ROOT).as_posix())
    assert unmarked == [], "mark them kafka or slow, or leave their folder off the list"
