"""`make demo`, step 8: a post-delivery NPS program asks the story's customers.

The shop reports `order.delivered` touchpoints to solicit; solicit invites each customer once
(fatigue: a second delivery of the same customer is skipped; a delivery older than the program's
window is skipped too), the invitations arrive by e-mail, some customers open the hosted survey
page and answer over real HTTP, and the response rate is printed with its interval beside the
NPS of the answers.
"""

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from rich.console import Console
from rich.table import Table

from scripts.demo.story import Voice

PROGRAM = "post-delivery-nps"
SURVEY_LINK = re.compile(r"https?://[^\s]+(/s/[A-Za-z0-9_.-]+)")
COMMENTS = {
    10: "Arrived early and fits perfectly.",
    9: "Quick delivery, nice packaging.",
    6: "Took a while to arrive.",
    3: "The parcel was damaged.",
}


class Story(Protocol):
    """What this step needs of the story's clients (scripts.demo.run.Clients)."""

    @property
    def console(self) -> Console:
        """Where the story is told."""

    @property
    def timeout_s(self) -> float:
        """How long to wait for the platform."""

    @property
    def received(self) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        """Reads every message the customers' side received."""


@dataclass
class SurveyResult:
    """What the post-delivery NPS step observed."""

    invited: set[str] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)
    """Skips by reason."""
    opened: int = 0
    answered: int = 0
    rates: dict[str, Any] = field(default_factory=dict)
    """solicit's response rates of this run's invitations (the program's group)."""


def customers_of(voices: Sequence[Voice], limit: int = 30) -> list[dict[str, Any]]:
    """The first `limit` customers of the story, as the shop knows them (locale, segment)."""
    found: dict[str, dict[str, Any]] = {}
    for voice in voices:
        customer = voice.item["customer"]
        if customer["id"] not in found and customer.get("email"):
            found[customer["id"]] = customer | {"locale": voice.item.get("locale")}
    return list(found.values())[:limit]


def touchpoints(run: str, customers: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """One delivery per customer, a second delivery for a few (fatigue), and old ones."""
    items = [_delivery(run, f"d{n}", c, now - timedelta(hours=1)) for n, c in enumerate(customers)]
    items += [_delivery(run, f"r{n}", c, now) for n, c in enumerate(customers[:3])]
    items += [
        _delivery(run, f"o{n}", c, now - timedelta(days=30)) for n, c in enumerate(customers[-2:])
    ]
    return items


def _delivery(run: str, tid: str, customer: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "source_system": "shop",
        "touchpoint_id": f"{run}-delivery-{tid}",
        "type": "order.delivered",
        "occurred_at": at.isoformat(),
        "customer": {
            k: customer[k] for k in ("id", "email", "locale", "segment") if customer.get(k)
        },
        "order_refs": [f"{run}-order-{tid}"],
    }


async def asked_after_delivery(
    story: Story, solicit: httpx.AsyncClient, run: str, voices: Sequence[Voice]
) -> SurveyResult:
    """Reports the deliveries, waits for the invitations, answers some, prints the rates."""
    console = story.console
    customers = customers_of(voices)
    console.rule("[bold cyan]8. Asked at the right moment: a post-delivery NPS")
    result = SurveyResult()
    started = datetime.now(UTC) - timedelta(seconds=1)
    posted = await solicit.post(
        "/v1/touchpoints/batch", json={"items": touchpoints(run, customers, started)}
    )
    posted.raise_for_status()
    for item in posted.json()["items"]:
        for decision in item["decisions"]:
            if decision["program_id"] != PROGRAM:
                continue
            if decision["outcome"] == "invited":
                result.invited.add(item["touchpoint_id"])
            else:
                reason = str(decision["reason"])
                result.skipped[reason] = result.skipped.get(reason, 0) + 1
    links = await _links(story, {c["id"] for c in customers}, len(result.invited))
    await _answer(solicit, links, result)
    rates = await solicit.get(
        "/v1/response-rates",
        params={"since": started.isoformat(), "group_by": "program", "program_id": PROGRAM},
    )
    rates.raise_for_status()
    result.rates = rates.json()["total"]
    console.print(rates_table(result))
    return result


async def _links(story: Story, customers: set[str], expected: int) -> dict[str, str]:
    """The survey link of each invited customer, once every invitation has arrived."""
    links: dict[str, str] = {}
    deadline = datetime.now(UTC) + timedelta(seconds=story.timeout_s)
    while datetime.now(UTC) < deadline:
        for message in await story.received():
            customer = str(message.get("customer_id"))
            found = SURVEY_LINK.search(str(message.get("text") or ""))
            if message.get("kind") == "survey.invitation" and customer in customers and found:
                links[customer] = found.group(1)
        if len(links) >= expected:
            return links
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{len(links)} of {expected} survey invitations arrived")


async def _answer(solicit: httpx.AsyncClient, links: dict[str, str], result: SurveyResult) -> None:
    """Most customers open the page; about two in three answer (a seeded, repeatable mix)."""
    rng = random.Random(len(links))
    for customer in sorted(links):
        if rng.random() < 0.15:
            continue  # never opened
        page = await solicit.get(links[customer])
        page.raise_for_status()
        result.opened += 1
        if rng.random() < 0.25:
            continue  # opened, did not answer
        score = rng.choice([10, 10, 9, 9, 9, 8, 7, 6, 3])
        form = {"score": str(score), "comment": COMMENTS.get(score, "")}
        answered = await solicit.post(links[customer], data=form)
        answered.raise_for_status()
        result.answered += 1


def _percent(rate: dict[str, Any] | None) -> str:
    if not rate or rate.get("value") is None:
        return "-"
    return f"{100 * rate['value']:.0f}% (95% CI {100 * rate['low']:.0f}-{100 * rate['high']:.0f}%)"


def rates_table(result: SurveyResult) -> Table:
    """Invited, skipped, answered, and the response rate beside the NPS it qualifies."""
    total = result.rates
    table = Table("", "value", title="Post-delivery NPS, this run")
    table.add_row("deliveries reported", str(len(result.invited) + sum(result.skipped.values())))
    table.add_row("invited", str(len(result.invited)))
    for reason, count in sorted(result.skipped.items()):
        table.add_row(f"skipped: {reason}", str(count))
    table.add_row("invitations sent / opened", f"{total.get('sent')} / {total.get('opened')}")
    table.add_row("answered", str(total.get("answered")))
    table.add_row("response rate", _percent(total.get("response_rate")))
    wait = (total.get("time_to_answer") or {}).get("median_s")
    table.add_row("median time to answer", "-" if wait is None else f"{wait:.0f} s")
    kpi = total.get("kpi") or {}
    if kpi.get("value") is not None:
        table.add_row(
            "NPS of the answers",
            f"{kpi['value']:.0f} (95% CI {kpi.get('low', 0):.0f} to {kpi.get('high', 0):.0f})",
        )
    return table
