"""Event envelope and the versioned event contracts of every topic."""

import functools
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, Literal, TypeVar

from feedloop.common import topics
from feedloop.common.feedback import Channel, Customer, FeedbackItem
from feedloop.common.touchpoints import TouchpointCreate
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Fixed namespace so that the same input always yields the same event id (uuid5).
EVENT_NAMESPACE: Final = uuid.UUID("6b1f0a8e-64a5-4bb7-9d7e-2f3f3f0c9a11")


def deterministic_id(*parts: str) -> str:
    """Returns a stable UUID derived from the given parts."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join(parts)))


def utcnow() -> datetime:
    """Returns the current time in UTC."""
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of event payloads: fields may be added; consumers ignore what they don't know."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- feedback.received (raw-feedback)
class FeedbackReceived(Contract):
    """Ingest accepted a feedback item; it is durable on `raw-feedback`."""

    event_type: ClassVar[str] = "feedback.received"
    topic: ClassVar[str] = topics.RAW_FEEDBACK

    feedback_id: str = Field(
        description="Stable id: the same source+external id gives the same id."
    )
    received_at: AwareDatetime
    client_id: str = Field(description="The API client (system) that posted it.")
    idempotency_key: str | None = None
    item: FeedbackItem


# ---------------------------------------------------------------- feedback.enriched (enriched)
SentimentLabel = Literal["negative", "neutral", "positive"]


class Sentiment(Contract):
    """Sentiment of a text or of one theme mention."""

    label: SentimentLabel
    score: float = Field(ge=-1, le=1, description="-1 most negative .. +1 most positive.")
    confidence: float = Field(ge=0, le=1)


class ThemeMatch(Contract):
    """One theme found in the text, with the sentiment of its mention (aspect level)."""

    theme: str
    confidence: float = Field(ge=0, le=1)
    sentiment: Sentiment | None = None
    evidence: str | None = Field(default=None, description="The (redacted) sentence that matched.")
    direction: str | None = Field(
        default=None,
        description="The theme's pole the mention names (e.g. 'small' vs 'large' for sizing), "
        "when the taxonomy gives the theme opposite directions and one clearly leads.",
    )


class Language(Contract):
    """Detected language of the text."""

    code: str = Field(description="ISO 639-1 code, or 'und' when undetermined.")
    confidence: float = Field(ge=0, le=1)


class PiiSummary(Contract):
    """What the PII redaction replaced, by kind (never the values)."""

    redacted: bool
    counts: dict[str, int] = Field(default_factory=dict)


class Enrichment(Contract):
    """Everything enrich adds to a feedback item."""

    sentiment: Sentiment
    themes: list[ThemeMatch] = Field(default_factory=list)
    primary_theme: str | None = None
    language: Language
    pii: PiiSummary
    embedding: list[float] = Field(
        default_factory=list, description="L2-normalised sentence vector."
    )
    embedding_model: str = Field(default="", description="Model (and version) of `embedding`.")
    sentiment_model: str = Field(default="", description="Model (and version) of the sentiment.")
    taxonomy_version: str = Field(
        default="",
        description="Version and digest of the theme taxonomy. A re-analysis with other "
        "versions is a new event (new event id) that replaces this one downstream.",
    )


class FeedbackEnriched(Contract):
    """A feedback item with its analysis; the text is PII-redacted."""

    event_type: ClassVar[str] = "feedback.enriched"
    topic: ClassVar[str] = topics.ENRICHED

    feedback_id: str
    received_at: AwareDatetime
    item: FeedbackItem = Field(
        description="The item as received, `text` replaced by its redaction and without "
        "contact data: `customer.email` and a social `handle` are null (only raw-feedback "
        "carries them; notify reads addresses there)."
    )
    enrichment: Enrichment


# ---------------------------------------------------------------- prioritized
class PriorityFactor(Contract):
    """One factor's contribution to an issue's priority, with a readable reason."""

    name: str
    value: float
    weight: float
    contribution: float
    reason: str


class Priority(Contract):
    """An issue's priority score and how it was composed."""

    score: float
    rank: int | None = None
    factors: list[PriorityFactor] = Field(default_factory=list)
    formula: str = ""


IssueStatus = Literal["new", "acknowledged", "planned", "in_progress", "resolved", "wont_fix"]
FeedbackKind = Literal["complaint", "praise", "question", "remark"]
"""What a feedback item asks of us: a fix (complaint), thanks (praise), an answer (question),
nothing (remark). Absent on older events: those were all complaints."""


class FeedbackRef(Contract):
    """What notify needs to know about one feedback item to reach its customer."""

    feedback_id: str
    source_system: str
    external_id: str
    channel: Channel
    customer: Customer
    locale: str | None = None
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    sentiment: Sentiment | None = None
    survey_scores: dict[str, int] = Field(default_factory=dict)


class FeedbackPrioritized(Contract):
    """A feedback item was linked to an issue."""

    event_type: ClassVar[str] = "feedback.prioritized"
    topic: ClassVar[str] = topics.PRIORITIZED

    feedback: FeedbackRef
    issue_id: str
    issue_status: IssueStatus
    is_pattern: bool
    severity: Literal["low", "medium", "high", "critical"]
    priority: Priority
    kind: FeedbackKind | None = Field(
        default=None,
        description="What the item asks of us. Every enriched item is prioritized: a complaint "
        "joins an issue, praise a praise pattern (issue_id), a question its own one-off issue "
        "in the answer queue (issue_id), a remark the theme's remark group (issue_id). "
        "Absent (older producers): complaint.",
    )


class IssueUpdated(Contract):
    """An issue changed: status, owner, priority, membership, resolution."""

    event_type: ClassVar[str] = "issue.updated"
    topic: ClassVar[str] = topics.PRIORITIZED

    issue_id: str
    version: int = Field(description="Increases by one with every change of the issue.")
    title: str
    theme: str | None = None
    status: IssueStatus
    owner: str | None = None
    planned_action: str | None = None
    resolution_message: str | None = None
    is_pattern: bool
    severity: Literal["low", "medium", "high", "critical"]
    priority: Priority
    feedback_count: int
    distinct_customers: int
    changes: list[str] = Field(default_factory=list, description="Fields changed in this version.")
    resolved_at: AwareDatetime | None = None
    merged_into: str | None = None
    kind: FeedbackKind | None = Field(
        default=None,
        description="complaint (a pattern or one-off complaint) or question (a one-off issue "
        "of the answer queue, resolved by an owner's answer in `resolution_message`). "
        "Absent (older producers): complaint.",
    )


# ---------------------------------------------------------------- feedback.closed (closed)
LoopOutcome = Literal[
    "resolved",
    "thanked",
    "answered",
    "noted",
    "no_channel",
    "opted_out",
    "erased",
    "undeliverable",
]
"""How a feedback item's loop ended. The state machine of one accepted item: received ->
enriched -> prioritized (kind) -> waiting (complaint: on its issue until resolved; question: on
its one-off issue until answered; praise: on the thank-you policy; remark: on the quiet period)
-> closed once, with one of these. A record that cannot be processed ends on a DLQ instead."""


class FeedbackClosed(Contract):
    """A feedback item's loop ended: its customer was told what was done, thanked, answered,
    or the item was noted (no action owed), or the customer could not or must not be reached.
    Exactly one per accepted feedback item.
    """

    event_type: ClassVar[str] = "feedback.closed"
    topic: ClassVar[str] = topics.CLOSED

    feedback_id: str
    issue_id: str
    customer_id: str
    channel: Literal["webhook", "email", "none"]
    outcome: Literal["delivered", "opted_out", "erased", "capped", "no_channel", "failed", "noted"]
    delivered_at: AwareDatetime | None = None
    closed_at: AwareDatetime
    time_to_close_seconds: float = Field(ge=0, description="From feedback received to closure.")
    loop_outcome: LoopOutcome | None = Field(
        default=None,
        description="How the loop ended (see LoopOutcome); `outcome` keeps the delivery's "
        "outcome as before: delivered -> resolved / thanked / answered by kind, failed and "
        "capped -> undeliverable, noted -> noted, the rest the same. Absent (older producers): "
        "derive it from `outcome` that way.",
    )
    kind: FeedbackKind | None = Field(
        default=None, description="The item's kind, as prioritized. Absent: complaint."
    )


# ---------------------------------------------------------------- customer-requests, audit
class CustomerErasureRequested(Contract):
    """Someone with the customers:erase scope asked that a customer's personal data be erased
    in every service (feedloop.common.rights)."""

    event_type: ClassVar[str] = "customer.erasure_requested"
    topic: ClassVar[str] = topics.CUSTOMER_REQUESTS

    request_id: str = Field(description="One id per request; confirmations name it.")
    customer_id: str
    requested_at: AwareDatetime
    requested_by: str = Field(description="The API client that asked.")
    services: list[str] = Field(
        default_factory=lambda: ["ingest", "prioritize", "notify", "topics"],
        description="Who must confirm before the erasure is complete.",
    )


class CustomerErased(Contract):
    """One service erased (or anonymised) what it held of a customer; `topics`: the topics
    were cut past the customer's records."""

    event_type: ClassVar[str] = "customer.erased"
    topic: ClassVar[str] = topics.CUSTOMER_REQUESTS

    request_id: str
    customer_id: str
    service: str
    counts: dict[str, int] = Field(
        default_factory=dict, description="What was erased, by kind (rows, entries, records)."
    )
    erased_at: AwareDatetime


class AuditRecorded(Contract):
    """An administrative action was taken; the acting service's audit log has the same entry
    (feedloop.common.audit). Names customers by id only."""

    event_type: ClassVar[str] = "audit.recorded"
    topic: ClassVar[str] = topics.AUDIT

    entry_id: str
    service: str
    at: AwareDatetime
    actor: str = Field(description="The API client (or operator) that acted.")
    action: str = Field(description="e.g. issue.status_changed, customer.erasure_requested.")
    target_type: str
    target_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- kpi alerts (alerts)
class SpikeDetected(Contract):
    """A theme's daily volume lay far above its baseline (prioritize's KPIs): one event per
    theme and day, ever. Carries counts and the theme only, no customer data."""

    event_type: ClassVar[str] = "kpi.spike_detected"
    topic: ClassVar[str] = topics.ALERTS

    alert_key: str = Field(description="spike:<theme>:<day>: unique per spike window.")
    theme: str
    day: str = Field(description="The UTC day of the spike, YYYY-MM-DD.")
    volume: int
    baseline_mean: float
    baseline_std: float
    z: float
    threshold_z: float
    detected_at: AwareDatetime


class DigestScore(Contract):
    """One KPI in one week: its value, answers and 95 % interval (None without answers)."""

    value: float | None = None
    responses: int = 0
    low: float | None = None
    high: float | None = None


class DigestKpi(Contract):
    """One KPI this week and last week."""

    name: str = Field(description="NPS, CSAT (share %), or CES (easy share %).")
    this_week: DigestScore
    last_week: DigestScore


class DigestIssue(Contract):
    """A top issue of the week by priority: ids, counts and the priority's reasons (no title:
    titles may quote customers)."""

    issue_id: str
    theme: str
    status: str
    priority: float
    customers: int
    feedback: int
    reasons: list[str] = Field(default_factory=list, max_length=10)


class DigestPraise(Contract):
    """Praise of one theme this week and last week."""

    theme: str
    this_week: int
    last_week: int


class WeeklyDigest(Contract):
    """The week in numbers, once per ISO week: KPIs against last week, top issues, praise that
    appeared or faded, closure, spikes. Counts, themes and ids only, no customer data."""

    event_type: ClassVar[str] = "kpi.weekly_digest"
    topic: ClassVar[str] = topics.ALERTS

    alert_key: str = Field(description="digest:<Monday of the week>: unique per week.")
    week: str = Field(description="The Monday (UTC) the week began, YYYY-MM-DD.")
    since: AwareDatetime
    until: AwareDatetime
    kpis: list[DigestKpi] = Field(default_factory=list)
    top_issues: list[DigestIssue] = Field(default_factory=list, max_length=5)
    new_praise: list[DigestPraise] = Field(default_factory=list, max_length=20)
    fading_praise: list[DigestPraise] = Field(default_factory=list, max_length=20)
    linked_feedback: int = 0
    closed: int = 0
    closure_rate: float | None = None
    median_time_to_close_s: float | None = None
    spikes: list[SpikeDetected] = Field(default_factory=list, max_length=50)
    built_at: AwareDatetime


# ---------------------------------------------------------------- touchpoint.reported (touchpoints)
class TouchpointReported(Contract):
    """A system reports a moment worth asking a customer about (solicit reads it): the same
    touchpoint as the body of solicit's POST /v1/touchpoints, and recognised as the same one
    by (source_system, touchpoint_id), whichever way it came in first."""

    event_type: ClassVar[str] = "touchpoint.reported"
    topic: ClassVar[str] = topics.TOUCHPOINTS

    touchpoint: TouchpointCreate


EVENT_TYPES: Final[dict[str, type[Contract]]] = {
    model.event_type: model
    for model in (
        FeedbackReceived,
        FeedbackEnriched,
        FeedbackPrioritized,
        IssueUpdated,
        FeedbackClosed,
        CustomerErasureRequested,
        CustomerErased,
        AuditRecorded,
        SpikeDetected,
        WeeklyDigest,
        TouchpointReported,
    )
}
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})

P = TypeVar("P", bound=Contract)


class Envelope(BaseModel, Generic[P]):
    """The one envelope of every event on every topic."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="Deterministic where the input is: same input, same id.")
    event_type: str
    schema_version: int = 1
    occurred_at: AwareDatetime
    producer: str
    correlation_id: str
    payload: P

    @classmethod
    def wrap(
        cls,
        payload: P,
        *,
        event_id: str,
        producer: str,
        correlation_id: str,
        occurred_at: datetime | None = None,
        validate: bool = True,
    ) -> "Envelope[P]":
        """Wraps a payload in an envelope of its event type: the one envelope builder.

        `validate=False` skips validation for a payload built from input validated already
        (ingest's hot path); the envelope's fields are the same either way.
        """
        envelope_class = envelope_class_of(type(payload))
        fields: dict[str, Any] = {
            "event_id": event_id,
            "event_type": type(payload).event_type,  # type: ignore[attr-defined]
            "schema_version": 1,
            "occurred_at": occurred_at or utcnow(),
            "producer": producer,
            "correlation_id": correlation_id,
            "payload": payload,
        }
        if validate:
            return envelope_class(**fields)
        return envelope_class.model_construct(**fields)


@functools.cache
def envelope_class_of(model: type[P]) -> type[Envelope[P]]:
    """Returns `Envelope[model]`, cached: parametrising the generic costs more than an event."""
    return Envelope[model]  # type: ignore[valid-type]


AnyEnvelope = Envelope[Any]
