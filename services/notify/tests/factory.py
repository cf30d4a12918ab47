"""Events on `prioritized` as prioritize emits them, and the loop that drives notify in tests."""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common import topics
from feedloop.common.codec import OutgoingRecord, decode, encode
from feedloop.common.events import (
    Envelope,
    FeedbackClosed,
    FeedbackPrioritized,
    FeedbackRef,
    IssueUpdated,
    Priority,
    Sentiment,
    deterministic_id,
)
from feedloop.common.feedback import Channel, Customer

from tests.support.clients import AppClient, send_all
from tests.support.kafka import read_topic
from tests.support.receivers import SmtpServer, WebhookReceiver

RECEIVED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def linked(
    feedback_id: str,
    issue_id: str,
    customer: str,
    *,
    email: str | None = None,
    source: str = "shop",
    channel: Channel | str = Channel.REVIEW,
    locale: str | None = "en-GB",
    status: str = "new",
    severity: str = "medium",
    nps: int | None = None,
    received_at: datetime = RECEIVED,
    kind: str | None = None,
    sentiment: Sentiment | None = None,
) -> Envelope[Any]:
    """A feedback.prioritized event: a feedback item linked to an issue (or a group: kind)."""
    payload = FeedbackPrioritized(
        feedback=FeedbackRef(
            feedback_id=feedback_id,
            source_system=source,
            external_id=f"ext-{feedback_id}",
            channel=Channel(channel),
            customer=Customer(id=customer, email=email),
            locale=locale,
            occurred_at=received_at - timedelta(minutes=5),
            received_at=received_at,
            sentiment=sentiment or Sentiment(label="negative", score=-0.7, confidence=0.9),
            survey_scores={"nps": nps} if nps is not None else {},
        ),
        issue_id=issue_id,
        issue_status=status,
        is_pattern=True,
        severity=severity,
        priority=Priority(score=10.0),
        kind=kind,
    )
    return Envelope.wrap(
        payload,
        event_id=deterministic_id("feedback.prioritized", feedback_id, issue_id),
        producer="prioritize",
        correlation_id=f"corr-{feedback_id}",
    )


def issue(
    issue_id: str,
    version: int,
    status: str,
    *,
    message: str | None = None,
    severity: str = "medium",
    merged_into: str | None = None,
    kind: str | None = None,
) -> Envelope[Any]:
    """An issue.updated event."""
    payload = IssueUpdated(
        issue_id=issue_id,
        version=version,
        title=f"Issue {issue_id}",
        theme="sizing_fit",
        status=status,
        resolution_message=message,
        is_pattern=True,
        severity=severity,
        priority=Priority(score=10.0),
        feedback_count=1,
        distinct_customers=1,
        resolved_at=datetime.now(UTC) if status == "resolved" else None,
        merged_into=merged_into,
        kind=kind,
    )
    return Envelope.wrap(
        payload,
        event_id=deterministic_id("issue.updated", issue_id, str(version)),
        producer="prioritize",
        correlation_id=issue_id,
    )


def records(envelopes: list[Envelope[Any]], prefix: str) -> list[OutgoingRecord]:
    """Encodes events for `prioritized`, keyed by issue id as prioritize keys them."""
    return [encode(e, key=e.payload.issue_id, prefix=prefix) for e in envelopes]


def systems(receiver: WebhookReceiver, *names: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """Source systems whose webhooks point at the receiver."""
    return {n: {"callback_url": receiver.url(n), "timeout_s": timeout_s} for n in names}


async def closed_events(
    bootstrap: str, prefix: str, *, expect: int, timeout_s: float = 30.0
) -> list[tuple[str, FeedbackClosed]]:
    """Reads `closed` until `expect` records are there; returns (event id, payload) pairs."""
    records = await read_topic(
        bootstrap,
        prefix + topics.CLOSED,
        until=lambda rs: len(rs) >= expect,
        timeout_s=timeout_s,
    )
    # A little longer, so that a duplicate would show.
    records += await read_topic(bootstrap, prefix + topics.CLOSED, idle_s=1.0, timeout_s=5)
    seen: dict[tuple[int, int], Any] = {(r.partition, r.offset): r for r in records}
    out = []
    for record in seen.values():
        envelope = decode(record.value, accept=[FeedbackClosed])
        out.append((envelope.event_id, envelope.payload))
    return out


@dataclass(frozen=True)
class NotifyLoop:
    """What a notify loop test drives: the app factory, the webhook receiver, the broker."""

    app_client: AppClient
    receiver: WebhookReceiver
    producer: AIOKafkaProducer
    bootstrap: str
    prefix: str

    def app(
        self, database_url: str, *, smtp: SmtpServer | None = None, **overrides: Any
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        """A notify app whose "shop" webhook points at the receiver and, given `smtp`, whose
        e-mail goes to that server (overrides win)."""
        overrides.setdefault("source_systems", systems(self.receiver, "shop"))
        if smtp is not None:
            overrides = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port} | overrides
        return self.app_client(database_url, **overrides)

    async def send(self, events: Sequence[Envelope[Any]]) -> None:
        """Sends events on `prioritized` as prioritize would."""
        await send_all(self.producer, records(list(events), self.prefix))

    async def closed(
        self, *, expect: int, timeout_s: float = 30.0
    ) -> list[tuple[str, FeedbackClosed]]:
        """Reads `closed` until `expect` records are there (closed_events)."""
        return await closed_events(self.bootstrap, self.prefix, expect=expect, timeout_s=timeout_s)
