"""Recording what feedback items are owed: one delivery per customer, issue, kind and round.

`owe` loads what the store knows of the deliveries and customers concerned, decides the new
deliveries (`plan_deliveries`, pure), writes them with one notification per feedback item, then
closes the notifications of deliveries that ended already (or ended just now, unsendable).
"""

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.events import deterministic_id
from feedloop.notify.delivery.outcomes import close_notifications, finish
from feedloop.notify.followup.links import FollowupLinks, with_followup
from feedloop.notify.intake import quiet
from feedloop.notify.intake.routing import Contact, route
from feedloop.notify.intake.staging import IssueRow, LinkRow
from feedloop.notify.models import delivery_t, notification_t
from feedloop.notify.rows import (
    CustomerRow,
    DeliveryRow,
    NotificationRow,
    load_customers,
    load_deliveries,
)
from feedloop.notify.settings import NotifySettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection


def delivery_id(customer_id: str, issue_id: str, kind: str, round_: int) -> str:
    """Returns the deterministic id (and idempotency key) of a delivery."""
    return deterministic_id("notify.delivery", customer_id, issue_id, kind, str(round_))


def notification_id(feedback_id: str, kind: str) -> str:
    """Returns the deterministic id of a feedback item's notification of a kind."""
    return deterministic_id("notify.notification", feedback_id, kind)


@dataclass(frozen=True, slots=True)
class Owed:
    """One message owed to each customer of some feedback items of one issue."""

    issue: IssueRow
    kind: str
    round: int
    # Each customer's items, oldest first: the first one decides the channel.
    by_customer: dict[str, list[LinkRow]]

    @classmethod
    def of(
        cls,
        issue: IssueRow,
        links: Sequence[LinkRow],
        kind: str,
        *,
        now: datetime,
        quiet_period: timedelta = timedelta(0),
    ) -> "Owed":
        """Groups the links by customer; a resolution belongs to the issue's current round.

        A thank-you's round is the UTC day (the policy allows one per customer per N days);
        the remarks and unthanked praise of one customer and group share one noted delivery
        (one per due bucket when they wait out a quiet period: intake.quiet).
        """
        round_ = {
            "resolution": issue.resolutions,
            "answer": issue.resolutions,
            "thanks": int(now.timestamp() // 86400),
            "note": quiet.note_round(now, quiet_period),
        }.get(kind, issue.resolutions + 1)
        by_customer: dict[str, list[LinkRow]] = defaultdict(list)
        for link in sorted(links, key=lambda row: (row.received_at, row.feedback_id)):
            by_customer[link.customer_id].append(link)
        return cls(issue=issue, kind=kind, round=round_, by_customer=dict(by_customer))

    def delivery_ids(self) -> dict[str, str]:
        """Returns each customer's delivery id."""
        return {c: delivery_id(c, self.issue.id, self.kind, self.round) for c in self.by_customer}


async def owe(
    conn: AsyncConnection,
    *,
    issue: IssueRow,
    links: Sequence[LinkRow],
    kind: str,
    settings: NotifySettings,
    now: datetime,
) -> int:
    """Records that these feedback items are owed a message of `kind`: one per customer.

    Returns how many new deliveries wait to be sent.
    """
    if not links:
        return 0
    owed = Owed.of(issue, links, kind, now=now, quiet_period=settings.noted_quiet_period)
    ids = owed.delivery_ids()
    known = {
        row.id
        for row in await conn.execute(
            select(delivery_t.c.id).where(delivery_t.c.id.in_(ids.values()))
        )
    }
    customers = await load_customers(conn, owed.by_customer)
    new = plan_deliveries(owed, known=known, customers=customers, settings=settings, now=now)
    if kind == "resolution":
        new = ask_followup(new, customers, settings, now=now)
    await insert_ignoring_conflicts(conn, delivery_t, [d.values() for d in new])
    await insert_ignoring_conflicts(
        conn, notification_t, [n.values() for n in notification_rows(owed, now=now)]
    )
    await _close_ended(conn, ids.values(), settings=settings, now=now)
    if kind == "resolution":
        await _supersede_acknowledgements(
            conn, issue_id=issue.id, customers=list(owed.by_customer), settings=settings, now=now
        )
    return sum(1 for d in new if d.status == "pending")


def plan_deliveries(
    owed: Owed,
    *,
    known: set[str],
    customers: dict[str, CustomerRow],
    settings: NotifySettings,
    now: datetime,
) -> list[DeliveryRow]:
    """Returns the deliveries not stored yet; those that cannot be sent are born ended."""
    ids = owed.delivery_ids()
    new: list[DeliveryRow] = []
    for customer_id, items in owed.by_customer.items():
        if ids[customer_id] in known:
            continue
        customer = customers.get(customer_id)
        erased = customer is not None and customer.erased
        first = items[0]
        channel: str = "none"
        if owed.kind != "note":
            channel = route(
                Contact(
                    source_system=first.source_system,
                    feedback_channel=first.channel,
                    email=None if erased or customer is None else customer.email,
                ),
                settings,
            )
        waits = quiet.is_quiet(owed.kind, settings.noted_quiet_period)
        outcome = _born_ended(owed.kind, erased=erased, channel=channel, waits=waits)
        new.append(
            DeliveryRow(
                id=ids[customer_id],
                customer_id=customer_id,
                issue_id=owed.issue.id,
                kind=owed.kind,
                round=owed.round,
                channel=channel,
                source_system=first.source_system,
                message=owed.issue.resolution_message if owed.kind in MESSAGE_KINDS else None,
                status="pending" if outcome is None else "done",
                outcome=outcome,
                attempts=0,
                next_attempt_at=quiet.due_at(owed.round) if waits else now,
                lease_token=None,
                cap_day=None,
                last_error=None,
                resends=0,
                created_at=now,
                updated_at=now,
                delivered_at=None,
                failed_at=None,
            )
        )
    return new


def ask_followup(
    deliveries: list[DeliveryRow],
    customers: dict[str, CustomerRow],
    settings: NotifySettings,
    *,
    now: datetime,
) -> list[DeliveryRow]:
    """Adds "Is it fixed for you?" and the customer's signed link to resolution messages.

    Off by setting, and off where no link keys are configured outside local and test mode.
    """
    if not settings.followup_links:
        return deliveries
    try:
        links = FollowupLinks(settings)
    except ValueError:
        return deliveries
    out: list[DeliveryRow] = []
    for delivery in deliveries:
        if delivery.status == "pending":
            customer = customers.get(delivery.customer_id)
            url = links.url(delivery.customer_id, delivery.issue_id, asked_at=now)
            message = with_followup(delivery.message, url, customer.locale if customer else None)
            delivery = dataclasses.replace(delivery, message=message)
        out.append(delivery)
    return out


MESSAGE_KINDS = ("resolution", "answer")
"""Kinds whose delivery carries the issue's resolution message (a question's answer)."""


def _born_ended(kind: str, *, erased: bool, channel: str, waits: bool = False) -> str | None:
    """The outcome of a delivery that ends as it is planned; None: it waits to be sent.

    `waits`: a note that waits out its quiet period (the sender's claim ends it `noted`).
    """
    if kind == "note" and not waits:
        return "noted"  # nothing to send: no action owed
    if erased:
        return "erased"
    if waits:
        return None
    return "no_channel" if channel == "none" else None


def notification_rows(owed: Owed, *, now: datetime) -> list[NotificationRow]:
    """Returns one notification per feedback item, sharing its customer's delivery."""
    ids = owed.delivery_ids()
    return [
        NotificationRow(
            id=notification_id(link.feedback_id, owed.kind),
            feedback_id=link.feedback_id,
            kind=owed.kind,
            issue_id=owed.issue.id,
            customer_id=customer_id,
            delivery_id=ids[customer_id],
            outcome=None,
            created_at=now,
            closed_at=None,
        )
        for customer_id, items in owed.by_customer.items()
        for link in items
    ]


async def _close_ended(
    conn: AsyncConnection, ids: Iterable[str], *, settings: NotifySettings, now: datetime
) -> None:
    """Ended already (or just now: erased, no channel): the new items share its outcome."""
    ended = await load_deliveries(
        conn,
        select(delivery_t).where(delivery_t.c.id.in_(list(ids)), delivery_t.c.status == "done"),
    )
    by_outcome: dict[str, list[DeliveryRow]] = defaultdict(list)
    for delivery in ended:
        by_outcome[delivery.outcome or ""].append(delivery)
    for outcome, deliveries in by_outcome.items():
        await close_notifications(
            conn, deliveries, outcome=outcome, delivered_at=None, settings=settings, now=now
        )


async def _supersede_acknowledgements(
    conn: AsyncConnection,
    *,
    issue_id: str,
    customers: list[str],
    settings: NotifySettings,
    now: datetime,
) -> None:
    """Drops unsent "we hear you" messages: the fix message says more."""
    unsent = await load_deliveries(
        conn,
        select(delivery_t).where(
            delivery_t.c.issue_id == issue_id,
            delivery_t.c.kind == "acknowledgement",
            delivery_t.c.status == "pending",
            delivery_t.c.attempts == 0,
            delivery_t.c.customer_id.in_(customers),
        ),
    )
    await finish(conn, unsent, outcome="superseded", settings=settings, now=now)
