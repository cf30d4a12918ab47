"""Request and response models of the enrich API."""

from typing import Annotated

from feedloop.common.events import Enrichment
from feedloop.common.feedback import MAX_TEXT_CHARS
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AnalyseText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class AnalyseRequest(BaseModel):
    """Texts to analyse as the stage would, without Kafka."""

    model_config = ConfigDict(extra="forbid")

    texts: list[AnalyseText] = Field(min_length=1, description="Free text, one item each.")
    include_embedding: bool = Field(
        default=False, description="Return the 384-dimensional sentence vectors as well."
    )


class AnalysedText(BaseModel):
    """One text redacted and analysed."""

    text: str = Field(description="The text after PII redaction.")
    enrichment: Enrichment


class AnalyseResponse(BaseModel):
    """The analyses, in the order of the request's texts."""

    results: list[AnalysedText]
