"""A follow-up answer becomes survey feedback on `raw-feedback`, linked to its issue (no HTTP).

One answer per customer and issue counts: its feedback id and event id derive from the pair,
so a repeated answer is the same event (enrich and prioritize drop repeats by id). Erasure: the
answer travels as ordinary feedback of the customer and is erased with it downstream; notify
keeps nothing of it once the outbox has relayed it.
"""

from datetime import datetime
from typing import Final, Literal

from feedloop.common.events import FeedbackReceived, deterministic_id
from feedloop.common.feedback import Channel, CsatAnswer, Customer, SurveyFeedback
from feedloop.notify.followup.links import Asked
from feedloop.notify.outbox import OUTBOX
from sqlalchemy.ext.asyncio import AsyncConnection

SOURCE: Final = "notify-followup"
SURVEY_ID: Final = "followup"
Answer = Literal["yes", "no"]


def followup_feedback(
    asked: Asked, *, answer: Answer, comment: str, locale: str | None, now: datetime
) -> FeedbackReceived:
    """Returns the survey feedback of one follow-up answer (CSAT 1..2: no / yes, top box)."""
    external_id = f"followup:{asked.issue_id}:{asked.customer_id}"[:200]
    feedback_id = deterministic_id(SOURCE, external_id)
    item = SurveyFeedback(
        channel=Channel.SURVEY,
        source_system=SOURCE,
        external_id=external_id,
        customer=Customer(id=asked.customer_id),
        text=comment,
        locale=locale,
        occurred_at=now,
        survey_id=SURVEY_ID,
        answers=[
            CsatAnswer(
                score=2 if answer == "yes" else 1, scale_min=1, scale_max=2, method="top_box"
            )
        ],
        metadata={"followup_issue_id": asked.issue_id, "followup_answer": answer},
    )
    return FeedbackReceived(feedback_id=feedback_id, received_at=now, client_id="notify", item=item)


async def record_answer(
    conn: AsyncConnection,
    asked: Asked,
    *,
    answer: Answer,
    comment: str,
    locale: str | None,
    prefix: str,
    now: datetime,
) -> str:
    """Writes the answer's `feedback.received` to the outbox; returns its feedback id."""
    event = followup_feedback(asked, answer=answer, comment=comment, locale=locale, now=now)
    row = OUTBOX.row(
        event,
        event_id=deterministic_id("feedback.received", event.feedback_id),
        key=asked.customer_id,
        correlation_id=event.feedback_id,
        prefix=prefix,
        now=now,
    )
    await OUTBOX.write(conn, [row])
    return event.feedback_id
