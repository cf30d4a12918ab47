"""Shared pytest fixtures: the real test Kafka broker, PostgreSQL, topic isolation."""

import pytest

pytest_plugins = ["tests.support.kafka", "tests.support.postgres"]

# A test that asks for the broker (directly or through another fixture, e.g. `app_client`) carries
# the `kafka` marker, so `make test-fast` (-m "not kafka and not slow") can leave it out.
BROKER_FIXTURES = frozenset({"kafka_bootstrap", "topic_prefix", "raw_producer"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test whose fixture closure reaches the broker as `kafka`."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)
