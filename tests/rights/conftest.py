"""Data-rights tests run the whole platform (tests/e2e fixtures)."""

from tests.e2e.fixtures import platform

__all__ = ["platform"]
