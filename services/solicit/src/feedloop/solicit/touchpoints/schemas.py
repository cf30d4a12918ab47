"""Request and response models of the touchpoint API."""

from datetime import datetime
from typing import Literal

from feedloop.common.feedback import StrictModel
from feedloop.common.touchpoints import TouchpointCreate, TouchpointCustomer
from pydantic import BaseModel, Field

__all__ = ["TouchpointCreate", "TouchpointCustomer"]

MAX_BATCH = 1000


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
