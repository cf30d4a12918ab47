"""End-to-end fixtures (see fixtures.py)."""

from tests.e2e.fixtures import platform

__all__ = ["platform"]
