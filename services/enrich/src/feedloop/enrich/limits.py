"""Fitting a redacted item back into its contract's limits before it is produced.

A placeholder can be longer than what it replaced ("a@b.io" becomes "[EMAIL]"), so a text at
its limit can leave redaction over it; the consumer downstream would then dead-letter a
legitimate item. Text fields are cut back to their declared maximum length.
"""

from functools import cache
from typing import TypeVar

from annotated_types import MaxLen
from pydantic import BaseModel

Item = TypeVar("Item", bound=BaseModel)


@cache
def max_lengths(model: type[BaseModel]) -> dict[str, int]:
    """Returns the declared maximum length of each string field of an item model."""
    found: dict[str, int] = {}
    for name, info in model.model_fields.items():
        for meta in _metadata(info.annotation) + list(info.metadata):
            limit = getattr(meta, "max_length", None)
            if isinstance(meta, MaxLen):
                limit = meta.max_length
            if isinstance(limit, int):
                found[name] = limit
    return found


def _metadata(annotation: object) -> list[object]:
    # `Annotated[str, StringConstraints(...)] | None` keeps its constraints on the inner type.
    metadata = list(getattr(annotation, "__metadata__", ()))
    for arg in getattr(annotation, "__args__", ()):
        metadata += list(getattr(arg, "__metadata__", ()))
    return metadata


def fit_item(item: Item) -> Item:
    """Returns the item with every text field cut to its declared maximum length."""
    update: dict[str, str] = {}
    for name, limit in max_lengths(type(item)).items():
        value = getattr(item, name, None)
        if isinstance(value, str) and len(value) > limit:
            update[name] = value[:limit]
    return item.model_copy(update=update) if update else item
