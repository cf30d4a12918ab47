"""A schema_version of the wrong type is a poison record with its reason, never a TypeError."""

from typing import Any

import orjson
import pytest
from feedloop.common.codec import DeadLetterReason, PoisonRecord, decode
from feedloop.common.events import FeedbackClosed


@pytest.mark.parametrize("version", [[1], {"v": 1}, True, "1", 1.0, None])
def test_a_schema_version_of_the_wrong_type_is_refused_as_unsupported(version: Any) -> None:
    value = orjson.dumps({"event_type": FeedbackClosed.event_type, "schema_version": version})
    with pytest.raises(PoisonRecord) as refused:
        decode(value, accept=[FeedbackClosed])
    assert refused.value.reason == DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION
