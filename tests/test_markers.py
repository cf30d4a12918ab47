"""A test that reaches the broker through any fixture carries the `kafka` marker (conftest.py)."""

import pytest

from conftest import BROKER_FIXTURES, pytest_collection_modifyitems


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
