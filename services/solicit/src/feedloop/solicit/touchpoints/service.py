"""Recording touchpoints once and deciding, per program, an invitation or a skip with its reason.

One transaction per request: load (repeats, consent, earlier invitations), decide (pure,
feedloop.solicit.decide), persist (touchpoints, invitations, skips). Customers are locked
(PostgreSQL advisory locks; SQLite has one writer) so two replicas cannot both invite one
customer inside the fatigue window, and a (program, touchpoint) has one invitation at most by
the table's unique constraint.

Both ways in call `record`: the REST API and the `touchpoints` topic's consumer
(feedloop.solicit.touchpoints.consumer), so a touchpoint is one touchpoint by
(source_system, touchpoint_id) whichever way it came first. An erased customer's touchpoint is
answered "skipped: erased" and stored nowhere (not even the skip), so nothing of theirs comes
back after an erasure, e.g. when the topic is replayed.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.db import insert_ignoring_conflicts, lock_keys
from feedloop.common.events import deterministic_id
from feedloop.solicit.customers import Block, blocks_of
from feedloop.solicit.decide import Invite, Moment, Skip, decide
from feedloop.solicit.models import invitation_t, skip_t, touchpoint_t
from feedloop.solicit.programs import Program, ProgramsConfig
from feedloop.solicit.settings import SolicitSettings
from feedloop.solicit.touchpoints.schemas import Decision, TouchpointCreate, TouchpointRead
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

LIVE_STAGES = ("scheduled", "sent", "reminded")
"""Invitations that count against a customer's fatigue window."""


def touchpoint_key(source_system: str, external_id: str) -> str:
    """The stable id of a source system's touchpoint."""
    return deterministic_id("touchpoint", source_system, external_id)


def invitation_key(program_id: str, touchpoint_id: str) -> str:
    """The stable id of the one invitation of a (program, touchpoint)."""
    return deterministic_id("invitation", program_id, touchpoint_id)


@dataclass
class Context:
    """What the decisions of one request read: consent and earlier invitations per customer."""

    blocks: dict[str, Block]
    invited: dict[str, list[datetime]]
    callbacks: frozenset[str]
    """Source systems with a webhook configured."""


@dataclass
class Plan:
    """The rows one request writes."""

    touchpoints: list[dict[str, Any]] = field(default_factory=list)
    invitations: list[dict[str, Any]] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)
    unrecorded: dict[str, list[Decision]] = field(default_factory=dict)
    """Decisions answered but not stored (erased customers), by touchpoint id."""


def callbacks_of(settings: SolicitSettings, items: Sequence[TouchpointCreate]) -> frozenset[str]:
    """The source systems among the items' that have a webhook (in-app surveys)."""
    systems = {i.source_system for i in items}
    return frozenset(s for s in systems if settings.webhook_url(s) is not None)


async def record(
    *,
    conn: AsyncConnection,
    items: Sequence[TouchpointCreate],
    config: ProgramsConfig,
    callbacks: frozenset[str],
    now: datetime,
) -> list[TouchpointRead]:
    """Records touchpoints (repeats answered with their first decisions) and their decisions."""
    keys = [touchpoint_key(i.source_system, i.touchpoint_id) for i in items]
    await lock_keys(conn, [f"solicit-customer:{i.customer.id}" for i in items])
    known = set(
        (await conn.execute(select(touchpoint_t.c.id).where(touchpoint_t.c.id.in_(keys))))
        .scalars()
        .all()
    )
    context = await _load_context(conn, items, callbacks)
    plan = Plan()
    seen: set[str] = set()
    repeats: list[bool] = []
    for item, key in zip(items, keys, strict=True):
        repeats.append(key in known or key in seen)
        if not repeats[-1]:
            seen.add(key)
            _plan_one(plan, item, key, config=config, context=context, now=now)
    await insert_ignoring_conflicts(conn, touchpoint_t, plan.touchpoints)
    await insert_ignoring_conflicts(conn, invitation_t, plan.invitations)
    await insert_ignoring_conflicts(conn, skip_t, plan.skips)
    decisions = await decisions_of(conn, keys)
    decisions.update(plan.unrecorded)
    return [
        TouchpointRead(
            id=key,
            source_system=item.source_system,
            touchpoint_id=item.touchpoint_id,
            duplicate=repeat,
            decisions=decisions.get(key, []),
        )
        for item, key, repeat in zip(items, keys, repeats, strict=True)
    ]


async def _load_context(
    conn: AsyncConnection, items: Sequence[TouchpointCreate], callbacks: frozenset[str]
) -> Context:
    customers = {i.customer.id for i in items}
    rows = await conn.execute(
        select(invitation_t.c.customer_id, invitation_t.c.due_at).where(
            invitation_t.c.customer_id.in_(customers), invitation_t.c.stage.in_(LIVE_STAGES)
        )
    )
    invited: dict[str, list[datetime]] = defaultdict(list)
    for customer_id, due_at in rows.all():
        invited[customer_id].append(due_at)
    return Context(await blocks_of(conn, customers), invited, callbacks)


def _plan_one(
    plan: Plan,
    item: TouchpointCreate,
    key: str,
    *,
    config: ProgramsConfig,
    context: Context,
    now: datetime,
) -> None:
    customer = item.customer
    if context.blocks.get(customer.id) == "erased":
        plan.unrecorded[key] = [
            Decision(program_id=program.id, outcome="skipped", reason="erased")
            for program in config.triggered_by(item.type)
        ]
        return
    plan.touchpoints.append(_touchpoint_row(item, key, now))
    moment = Moment(
        key=key,
        customer_id=customer.id,
        occurred_at=item.occurred_at,
        email=customer.email,
        locale=customer.locale,
        time_zone=customer.time_zone,
        callback=item.source_system in context.callbacks,
    )
    for program in config.triggered_by(item.type):
        verdict = decide(
            program=program,
            moment=moment,
            blocked=context.blocks.get(customer.id),
            invited=context.invited[customer.id],
            fatigue_days=config.fatigue_days,
            default_time_zone=config.default_time_zone,
            now=now,
        )
        if isinstance(verdict, Skip):
            plan.skips.append(
                {
                    "program_id": program.id,
                    "touchpoint_id": key,
                    "customer_id": customer.id,
                    "reason": verdict.reason,
                    "skipped_at": now,
                }
            )
            continue
        context.invited[customer.id].append(verdict.due_at)
        plan.invitations.append(_invitation_row(program, item, key, verdict, now))


def _touchpoint_row(item: TouchpointCreate, key: str, now: datetime) -> dict[str, Any]:
    return {
        "id": key,
        "source_system": item.source_system,
        "external_id": item.touchpoint_id,
        "type": item.type,
        "customer_id": item.customer.id,
        "occurred_at": item.occurred_at,
        "received_at": now,
        "details": item.model_dump(
            mode="json", include={"customer", "order_refs", "product_refs", "metadata"}
        ),
    }


def _invitation_row(
    program: Program, item: TouchpointCreate, key: str, invite: Invite, now: datetime
) -> dict[str, Any]:
    return {
        "id": invitation_key(program.id, key),
        "program_id": program.id,
        "touchpoint_id": key,
        "customer_id": item.customer.id,
        "channel": program.channel,
        "segment": item.customer.segment,
        "language": invite.language,
        "stage": "scheduled",
        "due_at": invite.due_at,
        "attempts": 0,
        "created_at": now,
        "expires_at": invite.due_at + timedelta(seconds=program.link_ttl_s),
    }


async def decisions_of(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, list[Decision]]:
    """The recorded decisions of these touchpoints, by touchpoint id."""
    found: dict[str, list[Decision]] = defaultdict(list)
    invitations = await conn.execute(
        select(
            invitation_t.c.touchpoint_id,
            invitation_t.c.program_id,
            invitation_t.c.id,
            invitation_t.c.due_at,
        ).where(invitation_t.c.touchpoint_id.in_(list(keys)), invitation_t.c.stage != "skipped")
    )
    for touchpoint_id, program_id, invitation_id, due_at in invitations.all():
        found[touchpoint_id].append(
            Decision(
                program_id=program_id,
                outcome="invited",
                invitation_id=invitation_id,
                due_at=due_at,
            )
        )
    skips = await conn.execute(
        select(skip_t.c.touchpoint_id, skip_t.c.program_id, skip_t.c.reason).where(
            skip_t.c.touchpoint_id.in_(list(keys))
        )
    )
    for touchpoint_id, program_id, reason in skips.all():
        skipped = Decision(program_id=program_id, outcome="skipped", reason=reason)
        found[touchpoint_id].append(skipped)
    return found
