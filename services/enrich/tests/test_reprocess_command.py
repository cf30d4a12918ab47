"""The reprocess command's arguments: moments must name their offset."""

from datetime import UTC, datetime

import pytest
from feedloop.enrich.reprocess import main, parse_time


def test_since_accepts_z_and_offsets_and_refuses_a_naive_time() -> None:
    assert parse_time("2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T01:00:00+01:00") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(SystemExit):
        main(["--since", "2026-11-01T00:00:00"])


def test_since_is_required() -> None:
    with pytest.raises(SystemExit):
        main([])
