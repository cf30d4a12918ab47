"""Request and response models of the touchpoint API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedloop.common.feedback import (
    Identifier,
    Locale,
    ShortText,
    StrictModel,
    Timestamp,
)
from pydantic import BaseModel, EmailStr, Field, StringConstraints, field_validator

MAX_BATCH = 1000

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
    metadata: dict[str, Any] = Field(default_factory=dict, description="Small (<4 KiB).")

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(repr(value)) > 4096:
            raise ValueError("metadata must stay under 4 KiB")
        return value


class TouchpointBatch(StrictModel):
    """Up to 1000 touchpoints, decided in one transaction."""

    items: list[TouchpointCreate] = Field(min_length=1, max_length=MAX_BATCH)


class Decision(BaseModel):
    """What one program decided for the touchpoint."""

    program_id: str
    outcome: Literal["invited", "skipped"]
    reason: str | None = Field(default=None, description="Why skipped.")
    invitation_id: str | None = None
    due_at: datetime | None = None


class TouchpointRead(BaseModel):
    """A touchpoint as recorded, with the decisions of every program it triggered."""

    id: str
    source_system: str
    touchpoint_id: str
    duplicate: bool = Field(description="True when this touchpoint had been reported before.")
    decisions: list[Decision]


class TouchpointBatchRead(BaseModel):
    """Every item of a batch, in order."""

    items: list[TouchpointRead]
