"""The Alerts page (admins: who gets spike alerts and weekly digests, what was sent) and the
Digest page (everyone: the weekly digest of a week as subscribers get it by e-mail).

Subscriptions live in notify (/v1/alerts, scope notifications:admin); the digest is built by
prioritize (/v1/kpis/digest) and rendered by notify (/v1/alerts/preview), the same code that
mails it, so the preview is the message.
"""

from collections.abc import Awaitable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from feedloop.common.problems import Problem
from feedloop.console.backend import BackendError
from feedloop.console.pages import back_to, backend_of, flash, render
from feedloop.console.people import Person, PersonDep, requires

router = APIRouter(include_in_schema=False)
Admin = Annotated[Person, requires("admin")]
Field200 = Annotated[str, Form(max_length=200)]


def _admin(person: Person) -> None:
    if not person.may("admin"):
        raise Problem(403, "Forbidden", f"{person.name!r} is {person.role}; alerts are for admins")


async def _then_back(request: Request, action: Awaitable[object], done: str) -> Response:
    """Runs an API call, flashes its outcome (the API's refusal, if any), back to /alerts."""
    try:
        await action
    except BackendError as exc:
        flash(request, f"Not done: {exc.detail}", "error")
    else:
        flash(request, done)
    return back_to("/alerts")


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, person: PersonDep) -> Response:
    _admin(person)
    backend = backend_of(request)
    subscriptions = await backend.alert_subscriptions()
    deliveries = await backend.alert_deliveries()
    names = {s["id"]: s["name"] for s in subscriptions}
    return render(
        request, "alerts.html", subscriptions=subscriptions, deliveries=deliveries, names=names
    )


@router.post("/alerts/subscribe")
async def subscribe(
    request: Request,
    person: Admin,
    name: Field200,
    channel: Annotated[str, Form(pattern="^(email|webhook)$")],
    target: Annotated[str, Form(min_length=3, max_length=2000)],
    kinds: Annotated[list[str], Form(max_length=2)],
    themes: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    del person
    body = {
        "name": name,
        "channel": channel,
        "target": target,
        "kinds": kinds,
        "themes": [t.strip() for t in themes.split(",") if t.strip()] or None,
    }
    return await _then_back(request, backend_of(request).subscribe(body), f"{name} subscribed.")


@router.post("/alerts/{subscription_id}/delete")
async def unsubscribe(request: Request, subscription_id: str, person: Admin) -> Response:
    del person
    return await _then_back(
        request, backend_of(request).unsubscribe(subscription_id), "Subscription deleted."
    )


@router.get("/digest", response_class=HTMLResponse)
async def digest_page(
    request: Request, person: PersonDep, week: Annotated[date | None, Query()] = None
) -> Response:
    del person
    digest, message = await backend_of(request).digest_preview(week.isoformat() if week else None)
    return render(request, "digest.html", digest=digest, message=message)
