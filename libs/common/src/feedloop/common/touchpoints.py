"""A touchpoint: a moment worth asking a customer about (`order.delivered`, `ticket.solved`).

The one model of both ways in: solicit's `POST /v1/touchpoints` body, and the payload of
`touchpoint.reported` on the `touchpoints` topic (feedloop.common.events).
"""

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedloop.common.feedback import Identifier, Locale, ShortText, StrictModel, Timestamp
from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator


def _under_4_kib(value: dict[str, Any]) -> dict[str, Any]:
    if len(repr(value)) > 4096:
        raise ValueError("metadata must stay under 4 KiB")
    return value


SmallMetadata = Annotated[dict[str, Any], AfterValidator(_under_4_kib)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TouchpointCustomer(StrictModel):
    """Who lived the moment, and how to reach them in their language and time zone."""

    id: Identifier
    email: EmailStr | None = None
    segment: ShortText | None = None
    locale: Locale | None = Field(default=None, description="BCP 47, e.g. 'de-CH'.")
    time_zone: TimeZoneName | None = Field(default=None, description="IANA, e.g. 'Europe/Zurich'.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError("must be an IANA time zone, e.g. Europe/Berlin") from exc
        return value


class TouchpointCreate(StrictModel):
    """A moment worth asking about: `order.delivered`, `ticket.solved`, ..."""

    source_system: Identifier = Field(description="The internal system reporting it.")
    touchpoint_id: Identifier = Field(description="Its id there: a repeat is recognised by it.")
    type: Identifier = Field(description="e.g. 'order.delivered'; programs trigger on it.")
    occurred_at: Timestamp
    customer: TouchpointCustomer
    order_refs: list[Identifier] = Field(default_factory=list, max_length=50)
    product_refs: list[Identifier] = Field(default_factory=list, max_length=50)
    metadata: SmallMetadata = Field(default_factory=dict, description="Small (<4 KiB).")
