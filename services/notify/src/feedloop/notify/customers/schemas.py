"""Request and response models of the customer routes: preferences and erasure."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

PreferenceChannel = Literal["webhook", "email", "all"]
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
"""A customer id in a route's path."""


class PreferencesRead(BaseModel):
    """A customer's opt-outs by channel ("all" stops every message)."""

    customer_id: str
    opted_out: dict[PreferenceChannel, bool]
    erased: bool


class PreferencesUpdate(BaseModel):
    """Opt-outs to set; channels left out keep their setting."""

    model_config = ConfigDict(extra="forbid")

    opted_out: dict[PreferenceChannel, bool] = Field(min_length=1)


class ErasureRead(BaseModel):
    """The result of erasing a customer: no PII kept, nothing sent any more."""

    customer_id: str
    erased_at: datetime
    cancelled_deliveries: int = Field(description="Messages that were waiting and now never go.")
