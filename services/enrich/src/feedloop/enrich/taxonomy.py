"""The theme taxonomy: a YAML of themes with descriptions, examples and a calibration."""

import hashlib
import re
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ThemeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class PoleCues(BaseModel):
    """What names one pole in text (lower-cased): phrases first, then single words (regexes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phrases: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        for pattern in (*self.phrases, *self.words):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"cue {pattern!r} is not a regular expression: {error}") from None
        return self


class SizeLadder(BaseModel):
    """Sizes in ascending order: "ordered an M, it fits like an S" steps down, naming `below`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order: list[str] = Field(min_length=2)
    aliases: dict[str, str] = Field(default_factory=dict)
    link: str = Field(description="Regex of the words between the two sizes' comparison.")
    articles: str = Field(default="a|an", description="Regex of articles before the second size.")
    below: ThemeId
    above: ThemeId

    @model_validator(mode="after")
    def _aliases_known(self) -> Self:
        unknown = set(self.aliases.values()) - set(self.order)
        if unknown:
            raise ValueError(f"size aliases point to unknown sizes: {sorted(unknown)}")
        return self


class Theme(BaseModel):
    """One theme customers talk about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ThemeId
    name: str
    description: str = ""
    examples: list[str] = Field(min_length=1)
    effort: float | None = Field(default=None, gt=0)
    directions: dict[ThemeId, list[str]] = Field(default_factory=dict)
    """Opposite poles of the theme (e.g. small / large), each with example phrases: complaints
    of opposite poles need opposite fixes, so prioritize never groups them together."""
    direction_cues: dict[ThemeId, PoleCues] = Field(default_factory=dict)
    """Phrases and words naming each pole (cues.py): read before the vectors, which mistake
    product names for poles."""
    direction_ladder: SizeLadder | None = None

    @model_validator(mode="after")
    def _two_poles(self) -> Self:
        if self.directions and (len(self.directions) != 2 or not all(self.directions.values())):
            raise ValueError(f"{self.id}: directions need exactly two poles with examples")
        poles = set(self.directions)
        if self.direction_cues and set(self.direction_cues) != poles:
            raise ValueError(f"{self.id}: direction_cues must name the poles {sorted(poles)}")
        ladder = self.direction_ladder
        if ladder is not None and {ladder.below, ladder.above} != poles:
            raise ValueError(f"{self.id}: direction_ladder must name the poles {sorted(poles)}")
        return self


class Calibration(BaseModel):
    """How similarities become matches and confidences (tuned on the labelled set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(ge=-1, le=1, description="Least cosine to a theme's examples.")
    relative: float = Field(
        default=0.0, ge=-2, le=2, description="Least lead over the mean of the other themes."
    )
    slope: float = Field(default=12.0, gt=0, description="Steepness of the confidence.")
    top_k: int = Field(default=1, ge=1, le=10, description="Closest examples averaged.")
    direction_lead: float = Field(
        default=0.03,
        ge=0,
        le=2,
        description="Least cosine lead of one direction pole over the other to name it.",
    )
    direction_floor: float = Field(
        default=0.55,
        ge=-1,
        le=1,
        description="Least cosine of the leading pole's closest example to name it.",
    )


class Taxonomy(BaseModel):
    """The themes and the calibration of their matching."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    calibration: Calibration
    themes: list[Theme] = Field(min_length=1)
    digest: str = ""

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [t.id for t in self.themes]
        if len(ids) != len(set(ids)):
            raise ValueError(f"theme ids must be unique: {ids}")
        return self

    @property
    def label(self) -> str:
        """The version events carry: the declared version and a digest of the file."""
        return f"{self.version}@{self.digest}" if self.digest else self.version

    def effort_by_theme(self) -> dict[str, float]:
        """Returns the declared effort of each theme that has one."""
        return {t.id: t.effort for t in self.themes if t.effort is not None}


def load_taxonomy(path: Path) -> Taxonomy:
    """Reads and validates a taxonomy YAML."""
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    data["digest"] = hashlib.sha256(raw).hexdigest()[:8]
    return Taxonomy.model_validate(data)
