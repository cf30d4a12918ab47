"""The whole loop drained after a fault, and counted by event id on every topic."""

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from feedloop.common import topics

from tests.cluster.load import PacedLoad
from tests.e2e.ledger import Ledger, feedback_id_of, read
from tests.e2e.platform import Platform
from tests.e2e.story import API_KEY, issues, stored_at_least
from tests.support.polling import eventually
from tests.support.receivers import Sinks


@dataclass
class Outcome:
    """What one fault test measured."""

    ledgers: dict[str, Ledger]
    raw_repeats: int
    max_latency_s: float
    max_latency_fault_s: float

    def records(self) -> dict[str, int]:
        """Records per topic."""
        return {name: len(ledger.records) for name, ledger in self.ledgers.items()}


def prioritized_at(ledger: Ledger) -> dict[str, float]:
    """Feedback id -> when its feedback.prioritized event was produced (wall clock, s)."""
    out: dict[str, float] = {}
    for record in ledger.records:
        try:
            event: dict[str, Any] = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            continue
        if event.get("event_type") == "feedback.prioritized":
            out.setdefault(feedback_id_of(event), record.timestamp / 1000)
    return out


async def drain_and_count(
    platform: Platform, sinks: Sinks, load: PacedLoad, fault: tuple[float, float]
) -> Outcome:
    """Waits until every accepted item went through the loop, resolves the top issue, waits
    until its customers are told, then reads every topic (read_committed) and asserts that
    nothing accepted is lost and no event id is there twice downstream of raw-feedback."""
    accepted = set(load.accepted_at)
    bootstrap = platform.bootstrap

    async def all_enriched() -> bool:
        ledger = await read(bootstrap, platform.topic(topics.ENRICHED), timeout_s=10)
        return set(ledger.feedback_ids("feedback.enriched")) >= accepted

    await eventually(
        all_enriched, timeout_s=180, what="all enriched", context=platform.tails, every_s=0.5
    )
    prioritize = platform.processes["prioritize"].url
    await eventually(
        lambda: stored_at_least(prioritize, len(accepted)),
        timeout_s=120,
        what="all stored by prioritize",
        context=platform.tails,
        every_s=0.5,
    )
    top = (await issues(prioritize))[0]
    async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=10) as client:
        response = await client.patch(
            f"{prioritize}/v1/issues/{top['id']}",
            json={"status": "resolved", "resolution_message": "Fixed, thank you."},
        )
    assert response.status_code == 200, response.text

    async def top_closed() -> bool:
        closed = await read(bootstrap, platform.topic(topics.CLOSED), timeout_s=5)
        return len(resolved_in(closed, top["id"])) >= int(top["feedback_count"])

    await eventually(
        top_closed, timeout_s=90, what="top issue closed", context=platform.tails, every_s=0.5
    )

    async def everyone_told() -> bool:
        return len(sinks.received("resolution")) >= int(top["distinct_customers"])

    await eventually(
        everyone_told, timeout_s=90, what="everyone told", context=platform.tails, every_s=0.5
    )

    ledgers = {
        name: await read(bootstrap, platform.topic(name), timeout_s=60)
        for name in (topics.RAW_FEEDBACK, topics.ENRICHED, topics.PRIORITIZED, topics.CLOSED)
    }
    raw = ledgers[topics.RAW_FEEDBACK]
    assert set(raw.feedback_ids("feedback.received")) >= accepted, "an accepted item is lost"
    for name in (topics.ENRICHED, topics.PRIORITIZED, topics.CLOSED):
        assert not ledgers[name].repeated_ids(), f"{name}: {ledgers[name].repeated_ids()}"
    enriched = ledgers[topics.ENRICHED].feedback_ids("feedback.enriched")
    assert enriched == dict.fromkeys(accepted, 1), {
        "lost": len(accepted - set(enriched)),
        "twice": {f: n for f, n in enriched.items() if n > 1},
    }
    # Regrouping may move an item to another issue later: a new feedback.prioritized with its
    # own event id (feedback id + issue + revision); a repeat would be a repeated event id.
    prioritized = ledgers[topics.PRIORITIZED].feedback_ids("feedback.prioritized")
    # Every accepted item is prioritized with its kind (praise and remarks too, issue 12).
    assert set(prioritized) == accepted, {
        "lost": len(accepted - set(prioritized)),
        "unknown": len(set(prioritized) - accepted),
    }
    closed = ledgers[topics.CLOSED].feedback_ids("feedback.closed")
    assert set(closed.values()) == {1}, {f: n for f, n in closed.items() if n > 1}
    assert len(resolved_in(ledgers[topics.CLOSED], top["id"])) == int(top["feedback_count"])
    told = sinks.received("resolution")
    assert len(told) == int(top["distinct_customers"]) and set(told.values()) == {1}, told

    when = prioritized_at(ledgers[topics.PRIORITIZED])
    latency = {f: when[f] - at for f, at in load.accepted_at.items() if f in when}
    during = (load.accepted_within(fault[0], fault[1]) & set(latency)) or set(latency)
    return Outcome(
        ledgers=ledgers,
        raw_repeats=sum(n - 1 for n in raw.feedback_ids("feedback.received").values()),
        max_latency_s=max(latency.values()),
        max_latency_fault_s=max(latency[f] for f in during),
    )


def report(name: str, load: PacedLoad, outcome: Outcome, **extra: float | int | str) -> str:
    """One line of figures, printed by every fault test (run with -s to see them)."""
    fields = {
        "503s": load.statuses[503],
        "503_window_s": round(load.window_s(), 1),
        "slowest_post_s": round(load.slowest_s, 1),
        "max_post_to_prioritized_s_during_fault": round(outcome.max_latency_fault_s, 1),
        "max_post_to_prioritized_s": round(outcome.max_latency_s, 1),
        "accepted": len(load.accepted_at),
        "records": outcome.records(),
        "raw_feedback_repeats": outcome.raw_repeats,
        "at": time.strftime("%H:%M:%S"),
    } | extra
    line = f"[cluster] {name}: {orjson.dumps(fields).decode()}"
    print(line)
    return line


def resolved_in(closed: Ledger, issue_id: str) -> set[str]:
    """The feedback ids closed by the resolution of one issue (praise and remarks close apart)."""
    return {
        e["payload"]["feedback_id"]
        for e in closed.of_type("feedback.closed")
        if e["payload"].get("issue_id") == issue_id
    }
