"""Answers: stored per invitation, changeable until they settle, then sent to raw-feedback once.

The event is the `feedback.received` ingest produces for a survey item (same envelope, same
deterministic feedback id for (source system, external id)), so enrich, prioritize and notify
take it like any survey response. The item's `survey_id` is the program; `metadata` carries
the program, touchpoint and invitation ids. An answer is one row per invitation, so answering
twice changes that row (until it settles) and the event is written once, in the transaction
that marks the answer emitted (transactional outbox).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from feedloop.common.errors import Conflict, Invalid, NotFound
from feedloop.common.events import FeedbackReceived, deterministic_id
from feedloop.common.feedback import Customer, SurveyFeedback
from feedloop.solicit.models import answer_t, invitation_t, touchpoint_t
from feedloop.solicit.outbox import OUTBOX, SERVICE
from feedloop.solicit.programs import Program
from feedloop.solicit.settings import SolicitSettings
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MAX_COMMENT_CHARS = 5000
EMIT_BATCH = 500


class AnswerFinal(Conflict):
    """The answer has settled and gone to raw-feedback; it can no longer change."""


@dataclass(frozen=True)
class Recorded:
    """An answer as stored."""

    score: int
    comment: str
    settles_at: datetime
    final: bool


def feedback_id_of(source_system: str, external_id: str) -> str:
    """The feedback id ingest gives the same (source system, external id)."""
    return deterministic_id("feedback", source_system, external_id)


async def current(conn: AsyncConnection, invitation_id: str) -> Recorded | None:
    """The stored answer of an invitation, if any."""
    row = (
        await conn.execute(select(answer_t).where(answer_t.c.invitation_id == invitation_id))
    ).first()
    if row is None:
        return None
    return Recorded(row.score, row.comment, row.settles_at, row.emitted_at is not None)


async def submit(
    *,
    conn: AsyncConnection,
    invitation_id: str,
    program: Program,
    score: int,
    comment: str,
    settings: SolicitSettings,
    now: datetime,
) -> Recorded:
    """Stores (or changes) the answer of an invitation; emits it at once when nothing settles."""
    try:
        answer = program.survey.answer(score).model_dump(mode="json")
    except (ValidationError, ValueError) as exc:
        raise Invalid(f"score must lie within {program.survey.low}..{program.survey.high}") from exc
    comment = comment.strip()[:MAX_COMMENT_CHARS] if program.survey.comment else ""
    before = await current(conn, invitation_id)
    if before is not None and before.final:
        raise AnswerFinal("this survey was answered already", kind="answer-final")
    settles_at = now + timedelta(seconds=settings.answer_settle_s)
    values = {"score": score, "answer": answer, "comment": comment, "updated_at": now}
    if before is None:
        await conn.execute(
            answer_t.insert().values(
                invitation_id=invitation_id,
                first_answered_at=now,
                revisions=1,
                settles_at=settles_at,
                **values,
            )
        )
        await conn.execute(
            update(invitation_t)
            .where(invitation_t.c.id == invitation_id, invitation_t.c.answered_at.is_(None))
            .values(answered_at=now)
        )
    else:
        settles_at = before.settles_at
        await conn.execute(
            update(answer_t)
            .where(answer_t.c.invitation_id == invitation_id)
            .values(revisions=answer_t.c.revisions + 1, **values)
        )
    final = settles_at <= now
    if final:
        await _emit(conn, await _pending(conn, now=now, only=invitation_id), settings, now)
    return Recorded(score, comment, settles_at, final)


async def emit_settled(*, engine: AsyncEngine, settings: SolicitSettings, now: datetime) -> int:
    """Emits every answer whose edit window has closed; returns how many."""
    async with engine.begin() as conn:
        rows = await _pending(conn, now=now, only=None)
        await _emit(conn, rows, settings, now)
    return len(rows)


async def _pending(conn: AsyncConnection, *, now: datetime, only: str | None) -> list[Row[Any]]:
    ans, inv, tp = answer_t.c, invitation_t.c, touchpoint_t.c
    query = (
        select(
            ans.invitation_id,
            ans.answer,
            ans.comment,
            ans.first_answered_at,
            inv.program_id,
            inv.touchpoint_id,
            inv.customer_id,
            inv.segment,
            inv.language,
            tp.source_system,
            tp.external_id,
            tp.type,
            tp.details,
        )
        .join(invitation_t, inv.id == ans.invitation_id)
        .join(touchpoint_t, tp.id == inv.touchpoint_id)
        .where(ans.emitted_at.is_(None), ans.settles_at <= now)
        .limit(EMIT_BATCH)
    )
    if only is not None:
        query = query.where(ans.invitation_id == only)
    rows: list[Row[Any]] = list((await conn.execute(query)).all())  # type: ignore[arg-type]
    return rows


async def _emit(
    conn: AsyncConnection, rows: list[Row[Any]], settings: SolicitSettings, now: datetime
) -> None:
    if not rows:
        return
    events = [_event_row(row, settings, now) for row in rows]
    await OUTBOX.write(conn, events)
    await conn.execute(
        update(answer_t)
        .where(answer_t.c.invitation_id.in_([r.invitation_id for r in rows]))
        .values(emitted_at=now)
    )


def survey_item(row: Row[Any]) -> SurveyFeedback:
    """The survey feedback item of an answer, as an internal system would post it."""
    details: dict[str, Any] = row.details
    customer = details.get("customer", {})
    return SurveyFeedback(
        source_system=row.source_system,
        external_id=f"survey:{row.invitation_id}",
        customer=Customer(id=row.customer_id, email=customer.get("email"), segment=row.segment),
        text=row.comment,
        locale=customer.get("locale") or row.language,
        occurred_at=row.first_answered_at,
        order_refs=details.get("order_refs", []),
        product_refs=details.get("product_refs", []),
        survey_id=row.program_id,
        answers=[row.answer],
        metadata={
            "program_id": row.program_id,
            "touchpoint_id": row.touchpoint_id,
            "touchpoint_type": row.type,
            "source_touchpoint_id": row.external_id,
            "invitation_id": row.invitation_id,
        },
    )


def _event_row(row: Row[Any], settings: SolicitSettings, now: datetime) -> dict[str, Any]:
    item = survey_item(row)
    feedback_id = feedback_id_of(item.source_system, item.external_id)
    payload = FeedbackReceived(
        feedback_id=feedback_id, received_at=now, client_id=SERVICE, item=item
    )
    return OUTBOX.row(
        payload,
        event_id=feedback_id,
        key=row.customer_id,
        correlation_id=row.invitation_id,
        prefix=settings.kafka_topic_prefix,
        now=now,
    )


async def invitation_or_404(conn: AsyncConnection, invitation_id: str) -> Row[Any]:
    """The invitation a link names (it may have been erased since)."""
    row = (
        await conn.execute(select(invitation_t).where(invitation_t.c.id == invitation_id))
    ).first()
    if row is None:
        raise NotFound("this survey does not exist (any more)")
    return row
