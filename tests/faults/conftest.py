"""Fault-test fixtures (see tests/e2e/fixtures.py)."""

from tests.e2e.fixtures import platform

__all__ = ["platform"]
