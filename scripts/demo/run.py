"""`make demo`: plays the apparel-shop story through the running platform and narrates it.

Feedback in (surveys, reviews, tickets, chat, e-mail) -> insight (this run's sizing pattern,
ranked among the open issues, with reasons) -> action (an owner resolves it) -> customers told
(webhook and e-mail, once each) and asked "Is it fixed for you?" (their answers come back) ->
what's going well (praise ranked, a promoter thanked) -> a question answered by an owner -> the
problem recedes (complaint rate and NPS before/after, with significance, as a table) -> a
post-delivery NPS asks customers at the right moment (invited, skipped, answered, response rate).

It works on a platform that already holds other data, and runs again on the same platform: it
follows the issue that holds most of its own sizing complaints, resolved by an earlier run or
not, and counts only its own feedback.
"""

import argparse
import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scripts.demo.story import Voice, after, before, promoter, question
from scripts.demo.surveys import SurveyResult, asked_after_delivery

DEV_KEY = "fl_dev_local_only_key"
ANSWER = "Our medium is a UK 12; the size chart on each product page now shows both."
RESOLUTION = (
    "Thank you for telling us that our sizes ran small. We re-measured every product, "
    "updated all size charts and added a fit guide to each product page."
)


@dataclass
class Endpoints:
    """Where the running services listen."""

    ingest: str = "http://127.0.0.1:8001"
    prioritize: str = "http://127.0.0.1:8003"
    notify: str = "http://127.0.0.1:8004"
    sinks: str = "http://127.0.0.1:8025"
    console: str = "http://127.0.0.1:8005"
    solicit: str | None = "http://127.0.0.1:8006"
    """None: the story asks no surveys (step 8 left out)."""


@dataclass
class StoryResult:
    """What the story observed, for the narration and for the end-to-end test."""

    run: str
    accepted: int = 0
    sizing_customers: set[str] = field(default_factory=set)
    runs_large_customers: set[str] = field(default_factory=set)
    runs_large_joined: set[str] = field(default_factory=set)
    """Customers saying sizes run large whose complaint joined the runs-small issue (none)."""
    top_issue: dict[str, Any] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    notified: dict[str, int] = field(default_factory=dict)
    impact: dict[str, Any] = field(default_factory=dict)
    nps_before: float | None = None
    nps_after: float | None = None
    resolved_at: str = ""
    since: str = ""
    """The oldest of this run's feedback times."""
    run_customers: set[str] = field(default_factory=set)
    """This run's sizing customers on the issue the story follows."""
    praise: list[dict[str, Any]] = field(default_factory=list)
    thanked: dict[str, int] = field(default_factory=dict)
    followup: dict[str, Any] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    surveys: SurveyResult | None = None


def progress(console: Console) -> Progress:
    """A progress display with a bar, counts and elapsed time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def post_voices(
    client: httpx.AsyncClient, voices: list[Voice], on_done: Callable[[int], None]
) -> int:
    """Posts feedback in batches of 100, retrying 503s; returns items accepted or known."""
    accepted = 0
    for start in range(0, len(voices), 100):
        items = [v.item for v in voices[start : start + 100]]
        for attempt in range(30):
            response = await client.post("/v1/feedback/batch", json={"items": items})
            if response.status_code != 503:
                break
            await asyncio.sleep(min(5, 0.5 * (attempt + 1)))
        response.raise_for_status()
        body = response.json()
        accepted += body["accepted"] + body["duplicate"]
        refused = [r for r in body["results"] if r["status"] not in ("accepted", "duplicate")]
        if refused:
            raise ValueError(f"ingest refused {len(refused)} items of the story: {refused[:3]}")
        on_done(len(items))
    return accepted


async def stored_of_run(issues: httpx.AsyncClient, run: str, since: str) -> int:
    """This run's feedback items prioritize has stored (its customers' ids carry the run)."""
    count, cursor = 0, None
    for _ in range(200):  # bounded: 100,000 items at most
        params: dict[str, Any] = {"since": since, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        r = await issues.get("/v1/feedback", params=params)
        if r.status_code != 200:
            return count
        body = r.json()
        count += sum(1 for f in body["items"] if str(f["customer_id"]).startswith(f"{run}-"))
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return count


async def wait_until(check: Callable[[], Any], timeout_s: float, every_s: float = 1.0) -> Any:
    """Polls an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(every_s)
    raise TimeoutError(f"gave up after {timeout_s:.0f}s")


Received = Callable[[], Awaitable[list[dict[str, Any]]]]
"""Returns every message the receivers got (dicts with kind, customer_id, idempotency_key)."""


def http_received(sinks: httpx.AsyncClient) -> Received:
    """Reads the demo sinks' `GET /received`."""

    async def received() -> list[dict[str, Any]]:
        r = await sinks.get("/received")
        messages: list[dict[str, Any]] = r.json()["messages"] if r.status_code == 200 else []
        return messages

    return received


@dataclass
class Clients:
    """The HTTP clients of one story and how it reads what customers received."""

    ingest: httpx.AsyncClient
    issues: httpx.AsyncClient
    received: Received
    console: Console
    timeout_s: float


async def told(clients: Clients, kind: str, customers: set[str]) -> dict[str, int]:
    """Messages of `kind` per customer among `customers`, repeats under one key counted once."""
    unique = {
        str(m.get("idempotency_key") or id(m)): m
        for m in await clients.received()
        if m.get("kind") == kind and str(m.get("customer_id")) in customers
    }
    counts: dict[str, int] = {}
    for message in unique.values():
        cid = str(message["customer_id"])
        counts[cid] = counts.get(cid, 0) + 1
    return counts


async def play(
    endpoints: Endpoints,
    *,
    customers: int,
    after_customers: int,
    console: Console,
    timeout_s: float = 300.0,
    received: Received | None = None,
) -> StoryResult:
    """Runs the whole story; returns what it observed. Works on a platform holding other data."""
    run = uuid.uuid4().hex[:6]
    result = StoryResult(run=run)
    headers = {"X-API-Key": os.environ.get("FEEDLOOP_DEMO_API_KEY", DEV_KEY)}
    async with (
        httpx.AsyncClient(base_url=endpoints.ingest, headers=headers, timeout=60) as ingest,
        httpx.AsyncClient(base_url=endpoints.prioritize, headers=headers, timeout=60) as issues,
        httpx.AsyncClient(base_url=endpoints.sinks, timeout=30) as sinks,
    ):
        clients = Clients(ingest, issues, received or http_received(sinks), console, timeout_s)
        voices = await feedback_arrives(clients, result, customers)
        await pattern_found(clients, result)
        await owner_resolves(clients, result)
        await customers_told(clients, result)
        await followups_come_back(clients, result, notify=endpoints.notify)
        await going_well(clients, result, voices)
        await question_answered(clients, result, voices)
        await problem_recedes(clients, result, start=len(voices), after_customers=after_customers)
        if endpoints.solicit is not None:
            async with httpx.AsyncClient(
                base_url=endpoints.solicit, headers=headers, timeout=60
            ) as solicit:
                result.surveys = await asked_after_delivery(clients, solicit, run, voices)
    console.print(
        f"[bold]See it in the console:[/bold] {endpoints.console}/issues/{result.top_issue['id']} "
        "(local login: cx-lead / feedloop-local)"
    )
    return result


async def feedback_arrives(clients: Clients, result: StoryResult, customers: int) -> list[Voice]:
    """Step 1: posts the story's feedback and waits until all of it is analysed and stored."""
    run = result.run
    # FEEDLOOP_DEMO_RUNS_LARGE=N customers say the opposite, sizes run large (issue 18): their
    # complaints need the opposite fix and must open an issue of their own.
    runs_large = int(os.environ.get("FEEDLOOP_DEMO_RUNS_LARGE", "6"))
    voices = before(run, customers, runs_large=runs_large)
    voices += [promoter(run, len(voices)), question(run, len(voices) + 1)]
    result.sizing_customers = {v.item["customer"]["id"] for v in voices if v.topic == "sizing"}
    result.runs_large_customers = {
        v.item["customer"]["id"] for v in voices if v.topic == "sizing_large"
    }
    since = min(v.item["occurred_at"] for v in voices)
    clients.console.rule("[bold cyan]1. Feedback arrives from every channel")
    with progress(clients.console) as bar:
        task = bar.add_task("posting feedback", total=len(voices))
        result.accepted = await post_voices(clients.ingest, voices, lambda n: bar.advance(task, n))
        analysed = bar.add_task("analysed and grouped", total=len(voices))

        async def grouped() -> bool:
            seen = await stored_of_run(clients.issues, run, since)
            bar.update(analysed, completed=min(seen, len(voices)))
            return seen >= len(voices)

        await wait_until(grouped, clients.timeout_s, every_s=2)
    result.since = since
    return voices


async def run_issue(clients: Clients, result: StoryResult) -> dict[str, Any] | None:
    """The sizing issue that holds most of this run's sizing complaints (open or resolved).

    On a platform that already holds a resolved sizing issue, this run's complaints (dated
    before that resolution) may join it: its customers are then told at once.
    """
    r = await clients.issues.get(
        "/v1/issues", params={"theme": "sizing_fit", "sort": "-customers", "limit": 20}
    )
    best: tuple[int, dict[str, Any] | None] = (0, None)
    for issue in r.json()["items"] if r.status_code == 200 else []:
        page = await clients.issues.get(
            "/v1/feedback", params={"issue_id": issue["id"], "limit": 500}
        )
        items = page.json()["items"] if page.status_code == 200 else []
        linked = {f["customer_id"] for f in items}
        mine = linked & result.sizing_customers
        if len(mine) > best[0]:
            best = (len(mine), issue)
            result.run_customers = mine
            result.runs_large_joined = linked & result.runs_large_customers
    if best[0] < len(result.sizing_customers) / 2:
        return None
    return best[1]


async def pattern_found(clients: Clients, result: StoryResult) -> None:
    """Step 2: this run's sizing pattern, ranked among the open issues, with its reasons."""
    console = clients.console
    console.rule("[bold cyan]2. The loop finds the pattern and ranks it")

    async def found() -> dict[str, Any] | None:
        return await run_issue(clients, result)

    result.top_issue = await wait_until(found, 90, every_s=2)
    r = await clients.issues.get("/v1/issues", params={"sort": "-priority", "limit": 50})
    ranked = [i for i in r.json()["items"] if i["status"] != "resolved"]
    result.issues = ranked[:5]
    table = Table("rank", "issue", "theme", "customers", "pattern", "priority", "status")
    shown = ranked[:5] + [i for i in ranked[5:] if i["id"] == result.top_issue["id"]]
    for issue in shown:
        mark = " <- this story" if issue["id"] == result.top_issue["id"] else ""
        table.add_row(
            str(ranked.index(issue) + 1),
            issue["title"][:50] + mark,
            issue["theme"],
            str(issue["distinct_customers"]),
            "yes" if issue["is_pattern"] else "one-off",
            f"{issue['priority']['score']:.1f}",
            issue["status"],
        )
    console.print(table)
    top = result.top_issue
    console.print(
        f"This story's {len(result.sizing_customers)} sizing complaints: "
        f"{len(result.run_customers)} joined the issue [bold]{top['title'][:60]}[/bold] "
        f"({top['status']}, {top['distinct_customers']} customers in all)."
    )
    console.print(
        f"Opposite complaints: {len(result.runs_large_customers)} customers say sizes run "
        f"[bold]large[/bold]; {len(result.runs_large_joined)} of them joined this issue (poles "
        f"its reports name: {top.get('directions') or 'none'})."
    )
    console.print("[bold]Why it ranks where it does:")
    for factor in top["priority"]["factors"]:
        console.print(f"  - {factor['name']}: {factor['reason']}")


async def owner_resolves(clients: Clients, result: StoryResult) -> None:
    """Step 3: an owner takes the issue through to resolved (unless an earlier run did)."""
    console = clients.console
    console.rule("[bold cyan]3. An owner acts and resolves it")
    issue_id = result.top_issue["id"]
    if result.top_issue["status"] == "resolved":
        console.print(
            "  resolved already (an earlier run of the story): this run's reporters are told "
            "at once, without another resolution"
        )
        result.resolved_at = str(result.top_issue.get("resolved_at") or "")
        return
    r = None
    for status, extra in (
        ("acknowledged", {"owner": "maria@shop.example"}),
        ("planned", {"planned_action": "Re-measure all products and update the size charts"}),
        ("in_progress", {}),
        ("resolved", {"resolution_message": RESOLUTION}),
    ):
        r = await clients.issues.patch(f"/v1/issues/{issue_id}", json={"status": status, **extra})
        r.raise_for_status()
        console.print(f"  status -> [green]{status}[/green] {extra or ''}")
    resolved_at = r.json().get("resolved_at") if r is not None else None
    result.resolved_at = resolved_at or datetime.now(UTC).isoformat()


async def customers_told(clients: Clients, result: StoryResult) -> None:
    """Step 4: every customer of this run on the issue hears of the fix, once."""
    clients.console.rule("[bold cyan]4. Every customer who complained is told, once")
    linked = result.run_customers
    with progress(clients.console) as bar:
        task = bar.add_task("customers notified", total=len(linked))

        async def notified() -> bool:
            result.notified = await told(clients, "resolution", linked)
            bar.update(task, completed=len(result.notified))
            return len(result.notified) >= len(linked)

        await wait_until(notified, clients.timeout_s)
    await asyncio.sleep(2)  # a duplicate would show up now
    result.notified = await told(clients, "resolution", linked)
    dupes = sum(1 for n in result.notified.values() if n > 1)
    clients.console.print(f"  {len(result.notified)} customers notified, {dupes} notified twice")


FOLLOWUP_LINK = re.compile(r"https?://[^\s]+(/v1/followup/[A-Za-z0-9_.-]+)")


async def followups_come_back(clients: Clients, result: StoryResult, *, notify: str) -> None:
    """Step 4b: customers answer "Is it fixed for you?" through the link in their message."""
    console = clients.console
    links = {
        str(m["customer_id"]): match.group(1)
        for m in await clients.received()
        if m.get("kind") == "resolution"
        and str(m.get("customer_id")) in result.run_customers
        and (match := FOLLOWUP_LINK.search(str(m.get("text") or "")))
    }
    answering = sorted(links)[: max(1, len(links) * 2 // 3)]
    async with httpx.AsyncClient(base_url=notify, timeout=30) as public:
        for n, customer in enumerate(answering):
            said = "no" if n % 5 == 4 else "yes"
            comment = "Still a little small on me." if said == "no" else ""
            for _ in range(30):  # all answers come from this one address: rate-limited
                r = await public.post(links[customer], json={"answer": said, "comment": comment})
                if r.status_code != 429:
                    break
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
            r.raise_for_status()
    issue_id = result.top_issue["id"]

    async def counted() -> dict[str, Any] | None:
        r = await clients.issues.get(f"/v1/issues/{issue_id}/followup")
        body: dict[str, Any] = r.json() if r.status_code == 200 else {}
        return body if body.get("answers", 0) >= len(answering) else None

    result.followup = await wait_until(counted, clients.timeout_s, every_s=2) if answering else {}
    console.print(
        f"  {len(answering)} of {len(links)} customers answered the follow-up link; "
        f"confirmation rate {_rate(result.followup.get('confirmation_rate'))}"
    )


async def going_well(clients: Clients, result: StoryResult, voices: list[Voice]) -> None:
    """Step 5: praise patterns (theme + similarity) ranked in "what's going well"; the
    promoter is thanked."""
    console = clients.console
    console.rule("[bold cyan]5. What's going well, and a promoter thanked")
    r = await clients.issues.get("/v1/praise", params={"limit": 5, "by": "pattern"})
    r.raise_for_status()
    result.praise = r.json()["items"]
    table = Table(
        "rank", "theme", "group", "customers", "customer value", "score", "fading", "example"
    )
    for p in result.praise:
        table.add_row(
            str(p["rank"]),
            p["theme"],
            "pattern" if p["is_pattern"] else "one-off",
            str(p["distinct_customers"]),
            f"{p['customer_value']:,.0f}",
            f"{p['score']:.1f}",
            "FADING" if p["fading"] else "-",
            (p["examples"][0] if p["examples"] else "")[:50],
        )
    console.print(table)
    fan = next(v.item["customer"]["id"] for v in voices if v.topic == "promoter")

    async def thanked() -> dict[str, int]:
        return await told(clients, "thanks", {fan})

    result.thanked = await wait_until(thanked, clients.timeout_s)
    everyone = await told(clients, "thanks", {v.item["customer"]["id"] for v in voices})
    console.print(
        f"  promoter {fan} thanked ({len(everyone)} customers of this run thanked in all, "
        "at most one thank-you each per 30 days)"
    )


async def question_answered(clients: Clients, result: StoryResult, voices: list[Voice]) -> None:
    """Step 6: a customer's question waits in the answer queue; an owner answers it."""
    console = clients.console
    console.rule("[bold cyan]6. A question gets an owner and an answer")
    asker = next(v.item["customer"]["id"] for v in voices if v.topic == "question")

    async def queued() -> dict[str, Any] | None:
        r = await clients.issues.get("/v1/inbox", params={"status": "open", "limit": 500})
        items = r.json()["items"] if r.status_code == 200 else []
        return next((i for i in items if i["customer_id"] == asker), None)

    item = await wait_until(queued, 60)
    console.print(
        f"  in the queue: [italic]{item['text']}[/italic] (orders {', '.join(item['order_refs'])}, "
        f"waiting {item['sla_age_s'] / 60:.0f} min)"
    )
    r = await clients.issues.post(
        f"/v1/inbox/{item['id']}/answer", json={"answer": ANSWER, "owner": "sam@shop.example"}
    )
    r.raise_for_status()

    async def answered() -> dict[str, int]:
        return await told(clients, "answer", {asker})

    result.answered = await wait_until(answered, clients.timeout_s)
    console.print(f"  answered by sam@shop.example, delivered to {asker}: {ANSWER!r}")


async def problem_recedes(
    clients: Clients, result: StoryResult, *, start: int, after_customers: int
) -> None:
    """Step 7: fresh feedback; the complaint rate before and after, with its significance."""
    console = clients.console
    console.rule("[bold cyan]7. Fresh feedback: does the problem recede?")
    later = after(result.run, after_customers, start=start)
    with progress(console) as bar:
        task = bar.add_task("posting fresh feedback", total=len(later))
        result.accepted += await post_voices(clients.ingest, later, lambda n: bar.advance(task, n))
    total = start + len(later)

    async def all_in() -> bool:
        return await stored_of_run(clients.issues, result.run, result.since) >= total

    await wait_until(all_in, clients.timeout_s, every_s=2)
    issue_id = result.top_issue["id"]
    r = await clients.issues.get(f"/v1/kpis/issues/{issue_id}/impact")
    r.raise_for_status()
    result.impact = r.json()
    until = {"until": result.resolved_at} if result.resolved_at else {}
    since = {"since": result.resolved_at} if result.resolved_at else {}
    scores_before = await clients.issues.get("/v1/kpis/scores", params=until)
    scores_after = await clients.issues.get("/v1/kpis/scores", params=since)
    result.nps_before = scores_before.json()["overall"].get("nps", {}).get("score")
    result.nps_after = scores_after.json()["overall"].get("nps", {}).get("score")
    console.print(impact_table(result))


def _rate(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def impact_table(result: StoryResult) -> Table:
    """The before/after of the resolved issue as a readable table."""
    impact = result.impact
    table = Table("", "before", "after", title=f"Impact of the fix ({impact.get('theme')})")
    before_, after_ = impact.get("before") or {}, impact.get("after") or {}
    table.add_row(
        "feedback on the theme", str(before_.get("feedback")), str(after_.get("feedback"))
    )
    table.add_row("complaints", str(before_.get("complaints")), str(after_.get("complaints")))
    table.add_row(
        "complaint rate", _rate(impact.get("rate_before")), _rate(impact.get("rate_after"))
    )
    nps = (result.nps_before, result.nps_after)
    table.add_row("NPS (all feedback)", *("-" if n is None else f"{n:.0f}" for n in nps))
    followup = result.followup
    if followup:
        table.add_row(
            '"Is it fixed for you?"',
            "-",
            f"{_rate(followup.get('confirmation_rate'))} yes of {followup.get('answers')} answers",
        )
    p = impact.get("p_value_fisher")
    verdict = (
        "improved"
        if impact.get("improved")
        else "regressed"
        if impact.get("regressed")
        else ("no significant change")
    )
    table.caption = (
        f"{verdict}; Fisher p = {p:.3g}" if isinstance(p, float) else verdict
    ) + f" (alpha {impact.get('alpha')}, {impact.get('period_days')} days each side)"
    return table


def main() -> None:
    """Parses arguments and plays the story."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--after", type=int, default=200)
    args = parser.parse_args()
    console = Console()
    try:
        asyncio.run(
            play(Endpoints(), customers=args.customers, after_customers=args.after, console=console)
        )
    except (httpx.ConnectError, TimeoutError) as exc:
        what = "not answering" if isinstance(exc, httpx.ConnectError) else "too slow"
        console.print(f"[red]the platform is {what} ({exc}); is `make run` running?")
        sys.exit(1)


if __name__ == "__main__":
    main()
