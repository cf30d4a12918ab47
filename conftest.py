"""Shared pytest fixtures: the real test Kafka broker, PostgreSQL, topic isolation."""

pytest_plugins = ["tests.support.kafka", "tests.support.postgres"]
