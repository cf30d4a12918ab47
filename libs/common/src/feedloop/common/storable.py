"""What every database we support can store: SQLite takes values that PostgreSQL refuses.

A NUL character is legal in JSON and in SQLite text, never in PostgreSQL text or json; a float
beyond any real quantity (an ARR of 1e308) overflows running sums to infinity, which json.dumps
writes as `Infinity` and PostgreSQL refuses. A consumer checks an event before its transaction,
so such a record is dead-lettered alone, the same way on both databases.
"""

import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

MAX_MAGNITUDE = 1e15
"""No quantity we store comes near it (ARR in cents of the largest companies is ~1e14), and
sums of a billion such values stay finite."""
MAX_INTEGER = 2**63 - 1
"""PostgreSQL's BIGINT."""


def unstorable(model: BaseModel) -> str | None:
    """Returns why a decoded event cannot be stored on every supported database, or None."""
    for path, value in _leaves(model.model_dump(), "payload"):
        problem = _problem(value)
        if problem:
            return f"{path}: {problem}"
    return None


def _problem(value: Any) -> str | None:
    if isinstance(value, str):
        return "contains a NUL character (U+0000)" if "\x00" in value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
        return f"{value!r} is not a finite number within +/-{MAX_MAGNITUDE:g}"
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return f"{value} does not fit a 64-bit integer"
    return None


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    # Keys are stored too (metadata is JSON), so they are checked like values.
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value
