"""Response models of "what's going well" (`/v1/praise`)."""

from pydantic import BaseModel, Field


class PraisePattern(BaseModel):
    """Praise of one theme: a positive pattern, ranked like issues are."""

    id: str = Field(description="The praise group id praise items wait on (`prioritized`).")
    theme: str
    rank: int
    score: float = Field(description="0..100: reach and customer value, weighted 0.6 / 0.4.")
    reasons: list[str]
    distinct_customers: int
    customer_value: float = Field(description="Sum of the praising customers' ARR.")
    praise_recent: int
    total_recent: int
    praise_previous: int
    total_previous: int
    fading: bool = Field(description="The praise share fell significantly (z <= -1.96).")
    fading_z: float | None
    examples: list[str] = Field(description="The newest praise texts (PII-redacted).")


class PraiseList(BaseModel):
    """Praise patterns, best first."""

    items: list[PraisePattern]
    window_days: float
