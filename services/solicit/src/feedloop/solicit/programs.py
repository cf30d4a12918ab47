"""Survey programs: which touchpoint triggers which survey, when, how often, by which channel.

Read from a YAML file (`FEEDLOOP_SOLICIT_PROGRAMS_FILE`, default: `default_programs.yaml`
beside this module) and served read-only by `GET /v1/programs`.
"""

from datetime import time
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from feedloop.common.feedback import CesAnswer, CsatAnswer, Identifier, NpsAnswer
from feedloop.solicit.messages import LANGUAGES
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PROGRAMS = Path(__file__).with_name("default_programs.yaml")
MAX_PROGRAMS = 200

Metric = Literal["nps", "csat", "ces"]
DeliveryChannel = Literal["email", "webhook"]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Survey(_Frozen):
    """The question asked (one scored metric) and whether an open comment follows."""

    metric: Metric
    scale_min: Literal[0, 1] = Field(default=1, description="CSAT only.")
    scale_max: int | None = Field(
        default=None, description="CSAT: 2-10 (default 5); CES: 5 or 7 (default 7); NPS: 10."
    )
    method: Literal["top_box", "top_2_box", "mean"] = Field(
        default="top_2_box", description="How CSAT is computed."
    )
    direction: Literal["higher_is_easier", "lower_is_easier"] = Field(
        default="higher_is_easier", description="CES only."
    )
    comment: bool = Field(default=True, description="Offer an open comment box.")

    @property
    def low(self) -> int:
        """The lowest score offered."""
        return {"nps": 0, "csat": self.scale_min, "ces": 1}[self.metric]

    @property
    def high(self) -> int:
        """The highest score offered."""
        default = {"nps": 10, "csat": 5, "ces": 7}[self.metric]
        return default if self.metric == "nps" else (self.scale_max or default)

    def answer(self, score: int) -> NpsAnswer | CsatAnswer | CesAnswer:
        """The answer in the contract of raw-feedback; ValueError when out of scale."""
        if self.metric == "nps":
            return NpsAnswer(score=score)
        if self.metric == "csat":
            return CsatAnswer(
                score=score, scale_min=self.low, scale_max=self.high, method=self.method
            )
        return CesAnswer(score=score, scale_max=self.high, direction=self.direction)

    @model_validator(mode="after")
    def _scale_fits(self) -> Self:
        if self.metric == "csat" and not 2 <= self.high <= 10:
            raise ValueError("csat scale_max must lie in 2..10")
        if self.metric == "ces" and self.high not in (5, 7):
            raise ValueError("ces scale_max must be 5 or 7")
        if self.metric == "nps" and self.scale_max not in (None, 10):
            raise ValueError("nps is always 0..10")
        return self


class QuietHours(_Frozen):
    """Local times between which nobody is invited (may span midnight: 21:00-08:00)."""

    start: time
    end: time


class Program(_Frozen):
    """One survey program: a trigger, a survey, timing, sampling, channel and one reminder."""

    id: Identifier
    trigger: Identifier = Field(description="Touchpoint type, e.g. 'order.delivered'.")
    survey: Survey
    enabled: bool = True
    delay_s: float = Field(default=0, ge=0, le=90 * 86400, description="After the touchpoint.")
    window_s: float = Field(
        default=14 * 86400, gt=0, le=365 * 86400, description="Older touchpoints are not asked."
    )
    sampling_rate: float = Field(default=1.0, ge=0, le=1)
    quiet_hours: QuietHours | None = None
    channel: DeliveryChannel = "email"
    reminder_after_s: float | None = Field(
        default=None, gt=0, le=30 * 86400, description="One reminder this long after; None: no."
    )
    link_ttl_s: float = Field(default=14 * 86400, gt=0, le=90 * 86400)
    default_language: Language = "en"

    @model_validator(mode="after")
    def _known_language(self) -> Self:
        if self.default_language not in LANGUAGES:
            raise ValueError(f"default_language must be one of {sorted(LANGUAGES)}")
        return self


class ProgramsConfig(_Frozen):
    """Every program, and the policy they share."""

    fatigue_days: int = Field(
        default=30, ge=0, le=365, description="At most one invitation per customer per N days."
    )
    default_time_zone: str = "UTC"
    programs: list[Program] = Field(default_factory=list, max_length=MAX_PROGRAMS)

    def by_id(self, program_id: str) -> Program | None:
        """The program with this id, if configured."""
        return next((p for p in self.programs if p.id == program_id), None)

    def triggered_by(self, touchpoint_type: str) -> list[Program]:
        """Enabled programs of a touchpoint type, in configuration order."""
        return [p for p in self.programs if p.enabled and p.trigger == touchpoint_type]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [p.id for p in self.programs]
        if len(ids) != len(set(ids)):
            raise ValueError("program ids must be unique")
        return self


def load_programs(path: str | None) -> ProgramsConfig:
    """Reads the programs file (YAML); the shipped example programs when `path` is None."""
    raw = Path(path or DEFAULT_PROGRAMS).read_text()
    return ProgramsConfig.model_validate(yaml.safe_load(raw) or {})
