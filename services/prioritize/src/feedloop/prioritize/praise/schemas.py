"""Response models of "what's going well" (`/v1/praise`)."""

from typing import Literal

from pydantic import BaseModel, Field

PraiseBy = Literal["theme", "pattern"]


class PraisePattern(BaseModel):
    """Praise of one theme (by=theme), or praise that says much the same within a theme
    (by=pattern: grouped by similarity like complaints into issues), ranked like issues are."""

    id: str = Field(
        description="by=theme: the praise group id praise items wait on (`prioritized`); "
        "by=pattern: the similarity group's id (stable while its first item is kept)."
    )
    group: PraiseBy = Field(default="theme", description="What this row groups.")
    is_pattern: bool | None = Field(
        default=None,
        description="by=pattern: enough distinct customers (pattern_min_customers) to be a "
        "pattern; false: a one-off so far.",
    )
    members: int | None = Field(default=None, description="by=pattern: its praise items.")
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
    fading: bool = Field(
        description="Its share of the theme's feedback fell significantly (z <= -1.96)."
    )
    fading_z: float | None
    examples: list[str] = Field(description="The newest praise texts (PII-redacted).")


class PraiseList(BaseModel):
    """Praise patterns, best first."""

    items: list[PraisePattern]
    window_days: float
    by: PraiseBy = "theme"
