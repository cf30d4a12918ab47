"""Recording what feedback items are owed: one delivery per customer, issue, kind and round."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts
from feedloop.common.events import deterministic_id
from feedloop.notify.delivery.outcomes import close_notifications, finish
from feedloop.notify.intake.routing import Contact, route
from feedloop.notify.models import customer_t, delivery_t, notification_t
from feedloop.notify.settings import NotifySettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection


def delivery_id(customer_id: str, issue_id: str, kind: str, round_: int) -> str:
    """Returns the deterministic id (and idempotency key) of a delivery."""
    return deterministic_id("notify.delivery", customer_id, issue_id, kind, str(round_))


def notification_id(feedback_id: str, kind: str) -> str:
    """Returns the deterministic id of a feedback item's notification of a kind."""
    return deterministic_id("notify.notification", feedback_id, kind)


async def owe(
    conn: AsyncConnection,
    state: Any,
    links: Sequence[Any],
    kind: str,
    *,
    settings: NotifySettings,
    now: datetime,
) -> int:
    """Records that these feedback items are owed a message of `kind`: one per customer.

    Returns how many new deliveries wait to be sent.
    """
    if not links:
        return 0
    round_ = state.resolutions if kind == "resolution" else state.resolutions + 1
    by_customer: dict[str, list[Any]] = defaultdict(list)
    for link in sorted(links, key=lambda row: (row.received_at, row.feedback_id)):
        by_customer[link.customer_id].append(link)
    ids = {c: delivery_id(c, state.id, kind, round_) for c in by_customer}
    known = {
        row.id: row
        for row in await conn.execute(select(delivery_t).where(delivery_t.c.id.in_(ids.values())))
    }
    customers = {
        row.id: row
        for row in await conn.execute(
            select(customer_t).where(customer_t.c.id.in_(list(by_customer)))
        )
    }
    new_deliveries: list[dict[str, Any]] = []
    for customer_id, items in by_customer.items():
        if ids[customer_id] in known:
            continue
        customer = customers.get(customer_id)
        erased = customer is not None and customer.erased_at is not None
        # The customer's first feedback item on the issue decides the channel.
        first = items[0]
        channel = route(
            Contact(
                source_system=first.source_system,
                feedback_channel=first.channel,
                email=None if erased or customer is None else customer.email,
            ),
            settings,
        )
        outcome = "erased" if erased else "no_channel" if channel == "none" else None
        new_deliveries.append(
            {
                "id": ids[customer_id],
                "customer_id": customer_id,
                "issue_id": state.id,
                "kind": kind,
                "round": round_,
                "channel": channel,
                "source_system": first.source_system,
                "message": state.resolution_message if kind == "resolution" else None,
                "status": "pending" if outcome is None else "done",
                "outcome": outcome,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_token": None,
                "cap_day": None,
                "last_error": None,
                "resends": 0,
                "created_at": now,
                "updated_at": now,
                "delivered_at": None,
                "failed_at": None,
            }
        )
    await insert_ignoring_conflicts(conn, delivery_t, new_deliveries)
    await insert_ignoring_conflicts(
        conn,
        notification_t,
        [
            {
                "id": notification_id(link.feedback_id, kind),
                "feedback_id": link.feedback_id,
                "kind": kind,
                "issue_id": state.id,
                "customer_id": customer_id,
                "delivery_id": ids[customer_id],
                "outcome": None,
                "created_at": now,
                "closed_at": None,
            }
            for customer_id, items in by_customer.items()
            for link in items
        ],
    )
    done: dict[str, list[Any]] = defaultdict(list)
    for delivery in await conn.execute(
        select(delivery_t).where(delivery_t.c.id.in_(ids.values()), delivery_t.c.status == "done")
    ):
        done[delivery.outcome].append(delivery)
    for outcome, ended in done.items():
        # Ended already (or just now: erased, no channel): the new items share its outcome.
        await close_notifications(
            conn, ended, outcome=outcome, delivered_at=None, settings=settings, now=now
        )
    if kind == "resolution":
        await _supersede_acknowledgements(conn, state.id, list(by_customer), settings, now)
    return sum(1 for d in new_deliveries if d["status"] == "pending")


async def _supersede_acknowledgements(
    conn: AsyncConnection,
    issue_id: str,
    customers: list[str],
    settings: NotifySettings,
    now: datetime,
) -> None:
    """Drops unsent "we hear you" messages: the fix message says more."""
    unsent = list(
        await conn.execute(
            select(delivery_t).where(
                delivery_t.c.issue_id == issue_id,
                delivery_t.c.kind == "acknowledgement",
                delivery_t.c.status == "pending",
                delivery_t.c.attempts == 0,
                delivery_t.c.customer_id.in_(customers),
            )
        )
    )
    await finish(conn, unsent, outcome="superseded", settings=settings, now=now)
