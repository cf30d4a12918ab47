"""Remarks wait out a quiet period before they close `noted`; owed more meanwhile, they close as
that (re-analysed into a complaint: resolved; into a question: answered; erased: erased).
The due time lives in the database: a notify restarted before it closes the note, once."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from feedloop.common.events import Sentiment
from feedloop.notify.intake import quiet

from tests.support.polling import eventually

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked

FLAT = Sentiment(label="neutral", score=0.0, confidence=0.9)
QUIET_S = 2.0


def test_quiet_rounds_and_due_times() -> None:
    now = datetime(2026, 1, 5, 9, 0, 3, tzinfo=UTC)
    assert quiet.note_round(now, timedelta(0)) == 1, "no quiet period: one note per group"
    round_ = quiet.note_round(now, timedelta(hours=1))
    due = quiet.due_at(round_)
    assert now + timedelta(hours=1) <= due < now + timedelta(hours=1, seconds=quiet.BUCKET_S)
    assert quiet.note_round(now + timedelta(seconds=1), timedelta(hours=1)) == round_
    assert quiet.is_quiet("note", timedelta(seconds=1))
    assert not quiet.is_quiet("note", timedelta(0))
    assert not quiet.is_quiet("thanks", timedelta(hours=1))


def _by_feedback(items: list[dict[str, Any]]) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for item in items:
        out.setdefault(item["feedback_id"], []).append((item["kind"], item["outcome"]))
    return {k: sorted(v, key=str) for k, v in out.items()}


async def test_a_remark_closes_noted_after_its_quiet_period_once_across_a_restart(
    loop: NotifyLoop, database_url: str
) -> None:
    remarks = [
        linked(f"r{n}", group, f"c{n}", kind="remark", sentiment=FLAT)
        for n, group in ((1, "remark-fit"), (2, "remark-fit"), (3, "remark-fit"), (4, "remark-x"))
    ]
    owed_more = [
        # r2 re-analysed into a complaint: it waits on issue i1, which is resolved.
        linked("r2", "i1", "c2"),
        issue("i1", 2, "resolved", message="Fixed."),
        # r4 re-analysed into a question, then answered.
        linked("r4", "question-4", "c4", kind="question", sentiment=FLAT),
        issue("question-4", 2, "resolved", message="A UK 12.", kind="question"),
    ]
    started = datetime.now(UTC)
    # First run: intake only (no sender), so nothing can close a note whatever the timing.
    async with loop.app(database_url, noted_quiet_period=QUIET_S, send=False) as client:
        await loop.send(remarks)

        async def waiting_notes() -> bool:
            items = await notifications_of(client, kind="note")
            return len(items) == 4 and not any(i["outcome"] for i in items)

        await eventually(waiting_notes, what="four notes waiting out their quiet period")
        await loop.send(owed_more)
        erased = await client.delete("/v1/customers/c3")
        assert erased.status_code == 200, erased.text

        async def moved() -> dict[str, list[tuple[str, str | None]]] | None:
            seen = _by_feedback(await notifications_of(client))
            done = seen.get("r2") == [("resolution", None)] and "r4" in seen
            return seen if done and seen["r4"] == [("answer", None)] else None

        first = await eventually(moved, what="r2 and r4 left their notes")
    assert first == {
        "r1": [("note", None)],
        "r2": [("resolution", None)],
        "r3": [("note", "erased")],
        "r4": [("answer", None)],
    }
    # Restarted with its sender: the notes that came due close, the owed messages go out.
    async with loop.app(database_url, noted_quiet_period=QUIET_S) as client:
        closed = await loop.closed(expect=4)
    assert Counter(c.feedback_id for _, c in closed) == Counter(["r1", "r2", "r3", "r4"])
    assert len({event_id for event_id, _ in closed}) == 4
    outcomes = {c.feedback_id: (c.kind, c.loop_outcome) for _, c in closed}
    assert outcomes == {
        "r1": ("remark", "noted"),
        "r2": ("complaint", "resolved"),
        "r3": ("remark", "erased"),
        "r4": ("question", "answered"),
    }
    noted = next(c for _, c in closed if c.feedback_id == "r1")
    assert noted.closed_at >= started + timedelta(seconds=QUIET_S), "not before its quiet period"
