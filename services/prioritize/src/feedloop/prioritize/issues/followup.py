"""\"Did it help?\": follow-up answers (survey feedback from notify's signed links) per issue.

Notify turns a customer's yes / no / comment into survey feedback whose metadata names the
issue (`followup_issue_id`, `followup_answer`); prioritize keeps that pair in the item's `ref`
JSON (`followup`), and counts the answers here: the confirmation rate shown beside the issue's
before/after complaint rate.
"""

from typing import Any, TypedDict

from feedloop.prioritize.models import feedback_t
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_COMMENTS = 10


def followup_of(item: Any) -> dict[str, Any]:
    """The `followup` entry of an item's ref JSON: {} unless it answers a follow-up link."""
    metadata = getattr(item, "metadata", None) or {}
    issue_id, answer = metadata.get("followup_issue_id"), metadata.get("followup_answer")
    if isinstance(issue_id, str) and answer in ("yes", "no"):
        return {"followup": {"issue_id": issue_id[:64], "answer": answer}}
    return {}


class FollowupCounts(TypedDict):
    """How many answered "Is it fixed for you?" about an issue, and the share saying yes."""

    answers: int
    yes: int
    no: int
    confirmation_rate: float | None


async def _answers(conn: AsyncConnection, issue_id: str) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(feedback_t.c.ref, feedback_t.c.text, feedback_t.c.occurred_at)
                .where(
                    feedback_t.c.channel == "survey",
                    feedback_t.c.ref["followup"]["issue_id"].as_string() == issue_id,
                )
                .order_by(feedback_t.c.occurred_at.desc())
            )
        ).all()
    )


def _counts(rows: list[Any]) -> FollowupCounts:
    yes = sum(1 for r in rows if r.ref["followup"]["answer"] == "yes")
    answers = len(rows)
    return {
        "answers": answers,
        "yes": yes,
        "no": answers - yes,
        "confirmation_rate": yes / answers if answers else None,
    }


async def followup_counts(*, conn: AsyncConnection, issue_id: str) -> FollowupCounts:
    """The follow-up counts of one issue (the impact report shows them)."""
    return _counts(await _answers(conn, issue_id))


async def followup_summary(*, conn: AsyncConnection, issue_id: str) -> dict[str, Any]:
    """Answers to "Is it fixed for you?" about one issue: yes, no, rate, newest comments."""
    rows = await _answers(conn, issue_id)
    return {
        "issue_id": issue_id,
        **_counts(rows),
        "comments": [
            {"answer": r.ref["followup"]["answer"], "text": r.text, "at": r.occurred_at}
            for r in rows
            if r.text
        ][:MAX_COMMENTS],
    }
