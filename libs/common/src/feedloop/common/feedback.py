"""Channel-typed customer feedback: what internal systems post and `raw-feedback` carries."""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

from feedloop.common.emails import Email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/#+\-]+$"
    ),
]
# BCP 47 tags fit 35 characters (RFC 5646, 4.4.1); notify stores them in a VARCHAR(35).
Locale = Annotated[
    str, StringConstraints(max_length=35, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,8}$")
]

MAX_TEXT_CHARS = 20_000
MAX_AMOUNT = 1e12
"""The largest money amount we take: sums over many customers stay finite and exact enough."""
MAX_METADATA_DEPTH = 8
_MAX_METADATA_NUMBER = 2**53  # what every JSON reader (and a float) holds exactly

# C0 and C1 controls but tab, line feed and carriage return (CRLF e-mail bodies), and lone
# surrogates: PostgreSQL refuses NUL in text and jsonb, and surrogates cannot be encoded.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# Every date-time we take lies in this range, so date arithmetic (windows, baselines) on it
# can never leave what datetime represents.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _rfc3339_only(value: Any) -> Any:
    # pydantic's lax mode would read 0, 0.5 or "1700000000" as epoch seconds.
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_rfc3339",
        "must be an RFC 3339 date-time with a time zone, e.g. 2024-05-01T12:00:00Z",
    )


def _within_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError(
            "datetime_range", "must lie from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z"
        )
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only), AfterValidator(_within_range)]
"""An RFC 3339 date-time with a time zone (no epoch numbers), from 1970 to before 9999."""


def _unstorable(value: Any, path: str, depth: int) -> str | None:
    """Returns why a value cannot travel through every stage and store, or None."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        return f"{path}: control character U+{ord(found[0]):04X}" if found else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        # NaN fails the comparison too, so it is refused with the infinities.
        if not abs(value) <= _MAX_METADATA_NUMBER:
            return f"{path}: number out of range (at most 2^53 in magnitude, finite)"
        return None
    if isinstance(value, list | tuple | dict):
        if depth >= MAX_METADATA_DEPTH:
            return f"{path}: nested deeper than {MAX_METADATA_DEPTH} levels"
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in pairs:
            problem = _unstorable(key, f"{path} key", depth) or _unstorable(
                item, f"{path}.{key}", depth + 1
            )
            if problem:
                return problem
    return None


_SELF_VALIDATED = (BaseModel, datetime, StrEnum)


class StrictModel(BaseModel):
    """Base of every input model: unknown fields are errors, so typos never pass silently.

    Every field also refuses what a later stage could not store: control characters, lone
    surrogates, non-finite numbers (so one item can never stall a database write).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs for every field of every item (ingest's hot path): plain strings and None first.
        if type(value) is str:
            if _UNSTORABLE.search(value) is None:
                return value
        elif value is None or isinstance(value, _SELF_VALIDATED):
            return value  # validated by itself, or cannot hold such characters
        problem = _unstorable(value, info.field_name or "value", 0)
        if problem:
            raise PydanticCustomError("unstorable_value", "{problem}", {"problem": problem})
        return value


class Channel(StrEnum):
    """Where a piece of feedback came from."""

    SURVEY = "survey"
    REVIEW = "review"
    SUPPORT_TICKET = "support_ticket"
    CHAT = "chat"
    EMAIL = "email"
    SOCIAL = "social"
    IN_APP = "in_app"


class CustomerTier(StrEnum):
    """Commercial tier of a customer, used as a customer-value signal."""

    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class CustomerValue(StrictModel):
    """Monetary value of a customer (annual recurring revenue or lifetime value)."""

    arr: float | None = Field(
        default=None, ge=0, le=MAX_AMOUNT, description="Annual recurring revenue."
    )
    lifetime_value: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class Customer(StrictModel):
    """The customer who gave the feedback."""

    id: Identifier
    email: Email | None = None
    segment: ShortText | None = Field(default=None, description="e.g. 'b2c', 'smb', 'women'.")
    tier: CustomerTier | None = None
    value: CustomerValue | None = None


class NpsAnswer(StrictModel):
    """Net Promoter Score answer: 'How likely are you to recommend us?' 0-10."""

    metric: Literal["nps"] = "nps"
    score: int = Field(ge=0, le=10)


class CsatAnswer(StrictModel):
    """Customer satisfaction answer on a declared scale, scored by a declared method."""

    metric: Literal["csat"] = "csat"
    score: int
    scale_min: int = 1
    scale_max: int = Field(default=5, description="Usual scales: 1-3, 1-5, 1-7, 1-10.")
    method: Literal["top_box", "top_2_box", "mean"] = Field(
        default="top_2_box",
        description="How CSAT is computed: share of top answer, share of top two, or mean score.",
    )

    @model_validator(mode="after")
    def _score_within_scale(self) -> "CsatAnswer":
        if not 1 < self.scale_max <= 10 or self.scale_min not in (0, 1):
            raise ValueError("scale must start at 0 or 1 and end between 2 and 10")
        if not self.scale_min <= self.score <= self.scale_max:
            raise ValueError(f"score must lie within {self.scale_min}..{self.scale_max}")
        return self


class CesAnswer(StrictModel):
    """Customer effort score on a declared scale and direction."""

    metric: Literal["ces"] = "ces"
    score: int
    scale_max: Literal[5, 7] = 7
    direction: Literal["higher_is_easier", "lower_is_easier"] = Field(
        default="higher_is_easier",
        description="CES 2.0 ('the company made it easy', 7 = agree) is higher_is_easier.",
    )

    @model_validator(mode="after")
    def _score_within_scale(self) -> "CesAnswer":
        if not 1 <= self.score <= self.scale_max:
            raise ValueError(f"score must lie within 1..{self.scale_max}")
        return self


SurveyAnswer = Annotated[NpsAnswer | CsatAnswer | CesAnswer, Field(discriminator="metric")]


class FeedbackBase(StrictModel):
    """Fields every channel shares."""

    source_system: Identifier = Field(description="The internal system that posts, e.g. 'shop'.")
    external_id: Identifier = Field(description="The item's id in the source system.")
    customer: Customer
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)] = ""
    locale: Locale | None = Field(default=None, description="BCP 47 tag, e.g. 'en-GB'.")
    occurred_at: Timestamp = Field(description="When the customer gave it (RFC 3339 + zone).")
    product_refs: list[Identifier] = Field(default_factory=list, max_length=50)
    order_refs: list[Identifier] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free, small (<8 KiB).")

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A field validator, so the error names `metadata` rather than the whole item.
        if len(repr(value)) > 8192:
            raise ValueError("metadata must stay under 8 KiB")
        return value


class SurveyFeedback(FeedbackBase):
    """A survey response: one or more scored answers (NPS, CSAT, CES) and a comment."""

    channel: Literal[Channel.SURVEY] = Channel.SURVEY
    survey_id: Identifier | None = None
    answers: list[SurveyAnswer] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _one_answer_per_metric(self) -> "SurveyFeedback":
        metrics = [a.metric for a in self.answers]
        if len(metrics) != len(set(metrics)):
            raise ValueError("at most one answer per metric")
        return self


class ReviewFeedback(FeedbackBase):
    """A product or store review with a star rating."""

    channel: Literal[Channel.REVIEW] = Channel.REVIEW
    rating: float = Field(ge=0, le=10, description="Within 0..rating_scale.")
    rating_scale: int = Field(default=5, ge=2, le=10)
    platform: ShortText = Field(description="e.g. 'shop', 'trustpilot', 'app_store'.")
    title: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _rating_within_scale(self) -> "ReviewFeedback":
        if not 0 <= self.rating <= self.rating_scale:
            raise ValueError(f"rating must lie within 0..{self.rating_scale}")
        return self


class SupportTicketFeedback(FeedbackBase):
    """A support ticket (its description or a customer message on it)."""

    channel: Literal[Channel.SUPPORT_TICKET] = Channel.SUPPORT_TICKET
    ticket_id: Identifier
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    category: ShortText | None = None


class ChatFeedback(FeedbackBase):
    """A chat message or transcript from a support or sales chat."""

    channel: Literal[Channel.CHAT] = Channel.CHAT
    conversation_id: Identifier
    agent_id: Identifier | None = None


class EmailFeedback(FeedbackBase):
    """An e-mail the customer sent."""

    channel: Literal[Channel.EMAIL] = Channel.EMAIL
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    thread_id: Identifier | None = None


class SocialFeedback(FeedbackBase):
    """A public social media mention."""

    channel: Literal[Channel.SOCIAL] = Channel.SOCIAL
    platform: ShortText
    handle: ShortText | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    followers: int | None = Field(default=None, ge=0, le=100_000_000_000)


class InAppFeedback(FeedbackBase):
    """Feedback given inside our app or website widget."""

    channel: Literal[Channel.IN_APP] = Channel.IN_APP
    app_platform: Literal["web", "ios", "android", "desktop"] = "web"
    app_version: ShortText | None = None
    screen: ShortText | None = None
    rating: int | None = Field(default=None, ge=1, le=5)


FeedbackItem = Annotated[
    SurveyFeedback
    | ReviewFeedback
    | SupportTicketFeedback
    | ChatFeedback
    | EmailFeedback
    | SocialFeedback
    | InAppFeedback,
    Field(discriminator="channel"),
]


def _tag_of(model: type[BaseModel], discriminator: str) -> str:
    return str(model.model_fields[discriminator].default)


def _channel_registry() -> dict[Channel, type[FeedbackBase]]:
    union = get_args(FeedbackItem)[0]
    models = {Channel(_tag_of(model, "channel")): model for model in get_args(union)}
    if set(models) != set(Channel) or len(models) != len(get_args(union)):
        raise RuntimeError("every Channel needs exactly one model in FeedbackItem")
    return models


CHANNEL_MODELS: Mapping[Channel, type[FeedbackBase]] = MappingProxyType(_channel_registry())
"""The channel registry: each channel's model, derived from FeedbackItem's tagged union."""
ANSWER_METRICS = frozenset(_tag_of(m, "metric") for m in get_args(get_args(SurveyAnswer)[0]))
"""The survey answer tags ('nps', 'csat', 'ces')."""


def without_union_tags(loc: Sequence[str]) -> list[str]:
    """Drops the union tags pydantic puts into a FeedbackItem error's location.

    pydantic names the chosen channel model (`survey.answers.0.nps.score`); clients sent
    `answers.0.score`.
    """
    kept = []
    for i, part in enumerate(loc):
        if i == 0 and part in CHANNEL_MODELS and len(loc) > 1:
            continue
        if i >= 2 and loc[i - 2] == "answers" and part in ANSWER_METRICS:
            continue
        kept.append(part)
    return kept


def survey_scores(item: BaseModel) -> dict[str, int]:
    """Returns {'nps': 9, 'csat': 4, ...} of a survey item, empty for other channels."""
    answers = getattr(item, "answers", None) or []
    return {a.metric: a.score for a in answers}


def as_utc(moment: datetime) -> datetime:
    """Returns an aware datetime converted to UTC."""
    return moment.astimezone(UTC)
