"""Applying `prioritized` events to the store: who waits on which issue, and what they are owed.

Idempotent by event id (processed_event) and by content: a feedback item is linked once, an
issue version older than the stored one changes nothing, a notification exists once per
(feedback id, kind) and a delivery once per (customer, issue, kind, round). A batch is read and
written set-based (feedloop.notify.intake.staging) but applied in event order: whatever `owe` reads
from the store is written before it runs.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.db import lock_keys
from feedloop.common.events import FeedbackPrioritized, IssueUpdated
from feedloop.notify.delivery.outcomes import CLOSING_KINDS
from feedloop.notify.intake import quiet
from feedloop.notify.intake.owed import owe
from feedloop.notify.intake.routing import wants_acknowledgement, wants_thanks
from feedloop.notify.intake.staging import IssueRow, LinkRow, Staging
from feedloop.notify.models import delivery_t, link_t, notification_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


def closing_kind(state: IssueRow) -> str:
    """The message a resolved issue owes its waiting items: an answer to a question."""
    return "answer" if state.kind == "question" else "resolution"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One decoded `prioritized` event."""

    event_id: str
    correlation_id: str
    event: FeedbackPrioritized | IssueUpdated


@dataclass(slots=True)
class IntakeResult:
    """What a batch changed."""

    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    queued: int = 0


@dataclass(slots=True)
class _Owed:
    """Consecutive feedback items of one issue owed the same message, owed in one go."""

    state: IssueRow
    kind: str
    links: list[LinkRow] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)

    def takes(self, state: IssueRow, kind: str, link: LinkRow) -> bool:
        """True when the item joins this group without changing what anyone is owed."""
        return (state.id, state.resolutions, state.resolution_message, kind) == (
            self.state.id,
            self.state.resolutions,
            self.state.resolution_message,
            self.kind,
        ) and link.customer_id not in self.customers


class _Applier:
    """Applies one batch's events in order against its staging."""

    def __init__(
        self, conn: AsyncConnection, staging: Staging, settings: NotifySettings, now: datetime
    ) -> None:
        self.conn = conn
        self.staging = staging
        self.settings = settings
        self.now = now
        self.result = IntakeResult()
        self._owed: _Owed | None = None

    async def apply(self, item: Incoming) -> None:
        """Applies one event (or counts it as a repeat or stale)."""
        if item.event_id in self.staging.seen:
            self.result.duplicates += 1
            return
        self.staging.processed(item.event_id, self.now)
        if isinstance(item.event, FeedbackPrioritized):
            await self._link(item, item.event)
        elif not await self._update_issue(item.event):
            self.result.stale += 1
            return
        self.result.applied += 1

    async def finish(self) -> IntakeResult:
        """Writes what is left; returns what the batch changed."""
        await self._settle()
        return self.result

    async def _settle(self) -> None:
        """Writes the staged changes, then owes what the pending group is owed."""
        await self.staging.flush(self.conn)
        group, self._owed = self._owed, None
        if group is not None:
            self.result.queued += await owe(
                self.conn,
                issue=group.state,
                links=group.links,
                kind=group.kind,
                settings=self.settings,
                now=self.now,
            )

    async def _owe_one(self, state: IssueRow, kind: str, link: LinkRow) -> None:
        if self._owed is None or not self._owed.takes(state, kind, link):
            await self._settle()
            self._owed = _Owed(replace(state), kind)
        self._owed.links.append(replace(link))
        self._owed.customers.add(link.customer_id)
        if quiet.is_quiet(kind, self.settings.noted_quiet_period):
            self.staging.quiet.add(link.feedback_id)
        elif kind in CLOSING_KINDS:
            self.staging.resolved.add(link.feedback_id)

    async def _link(self, item: Incoming, event: FeedbackPrioritized) -> None:
        ref = event.feedback
        if self._owed is not None and ref.customer.id in self._owed.customers:
            await self._settle()  # routing reads the customer as it was when it was owed
        self.staging.remember_customer(
            ref.customer.id,
            ref.customer.email,
            ref.locale,
            self.now,
            source_system=ref.source_system,
        )
        existing = self.staging.links.get(ref.feedback_id)
        if existing is not None:
            if existing.issue_id == event.issue_id or ref.feedback_id in self.staging.resolved:
                return
            if ref.feedback_id in self.staging.quiet:
                # Re-analysed within its quiet period: owed what its new kind is owed instead.
                await quiet.withdraw(self.conn, ref.feedback_id)
                self.staging.quiet.discard(ref.feedback_id)
            # Regrouped into another issue (a merge): it now waits on that one.
            self.staging.move_link(ref.feedback_id, event.issue_id, self.now)
        else:
            self.staging.add_link(
                LinkRow(
                    feedback_id=ref.feedback_id,
                    issue_id=event.issue_id,
                    customer_id=ref.customer.id,
                    source_system=ref.source_system,
                    external_id=ref.external_id,
                    channel=str(ref.channel),
                    correlation_id=item.correlation_id[:100],
                    received_at=ref.received_at,
                    linked_at=self.now,
                )
            )
        # Events of one issue arrive in order, so the status it carries is the newest.
        kind = event.kind or "complaint"
        # A group keeps the kind it has: an incident answered individually (a complaint) joins
        # a one-off issue of kind question, and is owed its answer.
        known = self.staging.issues.get(event.issue_id)
        state = self._set_status(
            event.issue_id,
            event.issue_status,
            {"severity": event.severity, "kind": (known.kind if known else None) or kind},
        )
        link = self.staging.links[ref.feedback_id]
        link.kind = kind
        owed = await self._owed_for(event, state, kind)
        if owed is not None:
            await self._owe_one(state, owed, link)

    async def _owed_for(self, event: FeedbackPrioritized, state: IssueRow, kind: str) -> str | None:
        """What a newly linked item is owed now: None while it waits on its issue."""
        if kind == "praise":
            return "thanks" if await self._thanks_due(event) else "note"
        if kind == "remark":
            return "note"
        if state.status == "resolved":
            return closing_kind(state)
        if kind == "complaint" and wants_acknowledgement(event, self.settings):
            return "acknowledgement"
        return None

    async def _thanks_due(self, event: FeedbackPrioritized) -> bool:
        """True when the policy thanks this praise and its customer was not thanked lately."""
        if not wants_thanks(event, self.settings):
            return False
        since = self.now - timedelta(days=self.settings.thanks.every_days)
        thanked = await self.conn.scalar(
            select(delivery_t.c.id)
            .where(
                delivery_t.c.customer_id == event.feedback.customer.id,
                delivery_t.c.kind == "thanks",
                delivery_t.c.created_at >= since,
            )
            .limit(1)
        )
        return thanked is None

    def _set_status(self, issue_id: str, status: str, values: dict[str, Any]) -> IssueRow:
        """Changes an issue's state; counts a new resolution when it turns resolved."""
        state = self.staging.issue(issue_id, values.get("severity", "low"), self.now)
        if status == "resolved" and state.status != "resolved":
            state.resolutions += 1
        state.status, state.updated_at = status, self.now
        for name, value in values.items():
            setattr(state, name, value)
        return state

    async def _update_issue(self, event: IssueUpdated) -> bool:
        """Applies an issue version; False when it is not newer than the stored one."""
        state = self.staging.issues.get(event.issue_id)
        if state is not None and event.version <= state.version:
            return False
        values = {
            "version": event.version,
            "severity": event.severity,
            "title": event.title[:300],
            "resolution_message": event.resolution_message,
            "merged_into": event.merged_into,
        }
        if event.kind:
            values["kind"] = event.kind
        state = self._set_status(event.issue_id, event.status, values)
        if event.merged_into:
            await self._follow_merge(event.issue_id, event.merged_into)
        if state.status == "resolved":
            await self._owe_waiting(state)
        return True

    async def _follow_merge(self, source: str, target: str) -> None:
        """Moves the links still waiting on a merged issue to the issue it was merged into.

        Prioritize re-emits moved feedback keyed by the target, on another partition than the
        source's own events, so the target's re-emission may be applied before the source's
        older link: the source's `merged_into` (ordered after its links) settles it.
        """
        for link in self.staging.links.values():
            if link.issue_id == source and link.feedback_id not in self.staging.resolved:
                self.staging.move_link(link.feedback_id, target, self.now)
        await self._settle()
        await self.conn.execute(
            update(link_t)
            .where(link_t.c.issue_id == source, link_t.c.closed_at.is_(None))
            .values(issue_id=target, linked_at=self.now)
        )
        state = self.staging.issues.get(target)
        if state is not None and state.status == "resolved":
            await self._owe_waiting(state)

    async def _owe_waiting(self, state: IssueRow) -> None:
        """Owes the resolution (a question: the answer) to every link still waiting on it."""
        await self._settle()
        kind = closing_kind(state)
        waiting = [
            LinkRow.of(row)
            for row in await self.conn.execute(
                select(link_t).where(
                    link_t.c.issue_id == state.id,
                    ~exists().where(
                        and_(
                            notification_t.c.feedback_id == link_t.c.feedback_id,
                            notification_t.c.kind.in_(CLOSING_KINDS),
                        )
                    ),
                )
            )
        ]
        self.result.queued += await owe(
            self.conn,
            issue=state,
            links=waiting,
            kind=kind,
            settings=self.settings,
            now=self.now,
        )
        self.staging.resolved.update(link.feedback_id for link in waiting)


async def apply_batch(
    conn: AsyncConnection, batch: Sequence[Incoming], *, settings: NotifySettings, now: datetime
) -> IntakeResult:
    """Applies a batch in order, in the caller's transaction."""
    await lock_keys(conn, [item.event.issue_id for item in batch])
    staging = await Staging.load(
        conn,
        event_ids=list({item.event_id for item in batch}),
        issue_ids=list(
            {item.event.issue_id for item in batch}
            | {
                item.event.merged_into
                for item in batch
                if isinstance(item.event, IssueUpdated) and item.event.merged_into
            }
        ),
        feedback_ids=list(
            {
                item.event.feedback.feedback_id
                for item in batch
                if isinstance(item.event, FeedbackPrioritized)
            }
        ),
    )
    applier = _Applier(conn, staging, settings, now)
    for item in batch:
        await applier.apply(item)
    return await applier.finish()
