"""The console's pages and form actions; every read and write goes through the APIs."""

import asyncio
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from feedloop.common.problems import Problem
from feedloop.console import charts, views
from feedloop.console.backend import MAX_PAGE, Backend, BackendError
from feedloop.console.people import Person, PersonDep, SettingsDep, csrf_token, requires

TEMPLATES = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
TEMPLATES.env.globals |= {
    "line_chart": charts.line_chart,
    "contribution_bar": charts.contribution_bar,
    "before_after": charts.before_after,
    "p_words": views.p_words,
}
TEMPLATES.env.filters |= {"combine_query": views.combine_query, "next_day": views.next_day}
router = APIRouter(include_in_schema=False)

Message = Annotated[str, Form(min_length=1, max_length=5000)]
Short = Annotated[str, Form(max_length=300)]
IssueId = Annotated[str, Query(max_length=64)]


def backend_of(request: Request) -> Backend:
    """The app's API client."""
    backend: Backend = request.app.state.backend
    return backend


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Renders a page with the person, the CSRF token and any flash message."""
    context |= {
        "person": getattr(request.state, "person", None),
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "settings": request.app.state.settings,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once on the next page."""
    request.session["flash"] = {"text": text, "kind": kind}


def back_to(url: str) -> RedirectResponse:
    """303 after a form: the browser GETs the page again."""
    return RedirectResponse(url, status_code=303)


# Sign-in (local mode only) ---------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    if not settings.local_login:
        raise Problem(404, "Not found", "the local login is refused outside local mode")
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request,
    settings: SettingsDep,
    user: Short,
    password: Short,
    csrf: Short = "",
    next: Short = "/",
) -> Response:
    if not settings.local_login:
        raise Problem(404, "Not found", "the local login is refused outside local mode")
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, csrf):
        raise Problem(403, "Forbidden", "the form's CSRF token is missing or wrong", field="csrf")
    good_user = hmac.compare_digest(user.encode(), settings.local_user.encode())
    good_password = hmac.compare_digest(
        password.encode(), settings.local_password.get_secret_value().encode()
    )
    if not (good_user and good_password):
        return render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(next),
            error="Wrong user or password.",
        )
    request.session.clear()
    request.session["user"] = settings.local_user
    return back_to(_safe_next(next))


@router.post("/logout")
async def logout(request: Request, _person: Annotated[Person, requires("viewer")]) -> Response:
    request.session.clear()
    return back_to("/login" if request.app.state.settings.local_login else "/")


def _safe_next(target: str) -> str:
    """Only paths of this site (no //host or scheme) as a redirect after login."""
    local = target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target
    return target if local else "/"


# Overview -----------------------------------------------------------------------------------


FilterValue = Annotated[str, Query(max_length=200)]


def _filters(
    segment: FilterValue = "",
    tier: FilterValue = "",
    channel: FilterValue = "",
    theme: FilterValue = "",
    language: FilterValue = "",
) -> dict[str, str]:
    """The filters every view shares: one value per dimension, or all."""
    chosen = {
        "segment": segment,
        "tier": tier,
        "channel": channel,
        "theme": theme,
        "language": language,
    }
    return {k: v for k, v in chosen.items() if v}


FiltersDep = Annotated[dict[str, str], Depends(_filters)]


def _whole_days(bucket: str, count: int) -> tuple[datetime, datetime]:
    """The overview's period in whole UTC days: its first bucket's start to tomorrow 00:00."""
    today = datetime.now(UTC).date()
    first = (
        today - timedelta(days=count - 1)
        if bucket == "day"
        else today - timedelta(days=today.weekday()) - timedelta(weeks=count - 1)
    )
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)


@router.get("/", response_class=HTMLResponse)
async def overview(
    request: Request,
    person: PersonDep,
    settings: SettingsDep,
    filters: FiltersDep,
    bucket: Literal["day", "week"] = "day",
) -> Response:
    del person
    backend = backend_of(request)
    count = settings.overview_days if bucket == "day" else settings.overview_weeks
    since, until = _whole_days(bucket, count)
    periods, themes, spikes, closure, impact = await asyncio.gather(
        backend.scores_over_time(buckets=count, bucket=bucket, filters=filters),
        backend.themes(since=since, until=until, bucket=bucket, filters=filters),
        backend.spikes(since=since, until=until),
        backend.closure(since=since, until=until),
        backend.nps_impact(since=since, until=until, filters=filters),
    )
    kpis = views.kpi_series(periods, None, None)
    kpis["latest"] = views.period_totals(periods, None, None)
    labels, theme_rows = views.theme_rows(themes["themes"], spikes, labels=kpis["labels"])
    return render(
        request,
        "overview.html",
        bucket=bucket,
        filters=filters,
        choices=views.filter_values(periods, filters),
        kpis=kpis,
        theme_labels=labels,
        theme_rows=theme_rows,
        spikes=spikes,
        closure=closure,
        charts_series=charts.Series,
        drill=views.drill_links(kpis["labels"], bucket, filters),
        period={"since": since.date().isoformat(), "until": until.date().isoformat()},
        nps_impact=impact,
    )


# Feedback (verbatims) -----------------------------------------------------------------------

EXPORT_MAX = 100_000
"""The most rows one CSV export streams; past it, a last line says it stopped."""
Day = Annotated[date | None, Query(description="UTC day, YYYY-MM-DD")]


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(
    request: Request,
    person: PersonDep,
    filters: FiltersDep,
    since: Day = None,
    until: Day = None,
    issue_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str, Query(max_length=600)] = "",
) -> Response:
    del person
    if issue_id:
        filters = filters | {"issue_id": issue_id}
    page = await backend_of(request).feedback(
        filters=filters, since=_midnight(since), until=_midnight(until), cursor=cursor or None
    )
    period = {
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return render(
        request,
        "feedback.html",
        items=page["items"],
        next_cursor=page["next_cursor"],
        filters=filters,
        period=period,
        query=views.combine_query(filters, **period),
    )


@router.get("/feedback/{feedback_id}", response_class=HTMLResponse)
async def feedback_item_page(
    request: Request, feedback_id: Annotated[str, Path(max_length=64)], person: PersonDep
) -> Response:
    del person
    detail = await backend_of(request).feedback_item(feedback_id)
    return render(request, "feedback_item.html", item=detail["item"], notes=detail["notes"])


@router.post("/feedback/{feedback_id}/note")
async def feedback_note(
    request: Request,
    feedback_id: Annotated[str, Path(max_length=64)],
    person: Annotated[Person, requires("owner")],
    note: Message,
) -> Response:
    """An internal note on one feedback item, under the person's name."""
    author = f"{person.name} ({person.role})"
    try:
        await backend_of(request).add_feedback_note(feedback_id, note.strip(), author)
    except BackendError as exc:
        flash(request, f"Not done: {exc.detail}", "error")
    else:
        flash(request, "Note added.")
    return back_to(f"/feedback/{quote(feedback_id, safe='')}")


@router.get("/feedback.csv")
async def feedback_csv(
    request: Request,
    person: PersonDep,
    filters: FiltersDep,
    since: Day = None,
    until: Day = None,
    issue_id: Annotated[str, Query(max_length=64)] = "",
) -> StreamingResponse:
    """Every feedback item that passes the filters, as CSV, streamed page by page."""
    del person
    if issue_id:
        filters = filters | {"issue_id": issue_id}
    backend = backend_of(request)

    async def lines() -> AsyncIterator[str]:
        yield views.csv_header(views.FEEDBACK_COLUMNS)
        cursor, sent = None, 0
        while sent < EXPORT_MAX:
            page = await backend.feedback(
                filters=filters,
                since=_midnight(since),
                until=_midnight(until),
                cursor=cursor,
                limit=min(MAX_PAGE, EXPORT_MAX - sent),
            )
            yield views.feedback_csv_rows(page["items"])
            sent += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return
        yield views.csv_header([f"# stopped at {EXPORT_MAX} rows: narrow the filters"])

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="feedback-all-{stamp}.csv"'},
    )


# Issues -------------------------------------------------------------------------------------


async def _filtered_issues(
    backend: Backend,
    *,
    theme: str,
    status: str,
    pattern: str,
    owner: str,
    sort: str,
    shared: dict[str, str] | None = None,
    limit: int = 200,
) -> tuple[list[dict[str, Any]], int]:
    """Issues by the issue filters and the shared ones (issues with feedback of that segment,
    tier, channel and language; the theme is the issue's)."""
    statuses: list[str] | None
    if status == "open":
        statuses = list(views.OPEN_STATUSES)
    elif status:
        statuses = [status]
    else:
        statuses = None
    page = await backend.issues(
        theme=theme or None,
        status=statuses,
        pattern={"pattern": "true", "one-off": "false"}.get(pattern),
        sort=sort,
        limit=limit,
        **{k: v for k, v in (shared or {}).items() if k in views.ISSUE_FEEDBACK_FILTERS},
    )
    items: list[dict[str, Any]] = page["items"]
    if owner:
        # The API has no owner filter: narrowed here, on the page it returned.
        wanted = owner.casefold()
        items = [i for i in items if wanted in (i["owner"] or "").casefold()]
    return items, int(page["total"])


StatusFilter = Literal[
    "", "open", "new", "acknowledged", "planned", "in_progress", "resolved", "wont_fix"
]
PatternFilter = Literal["", "pattern", "one-off"]
Sort = Literal["-priority", "-last_seen", "-created_at", "-customers"]


@router.get("/issues", response_class=HTMLResponse)
async def issues_page(
    request: Request,
    person: PersonDep,
    shared: FiltersDep,
    theme: Annotated[str, Query(max_length=100)] = "",
    status: StatusFilter = "open",
    pattern: PatternFilter = "",
    owner: Annotated[str, Query(max_length=200)] = "",
    sort: Sort = "-priority",
) -> Response:
    del person
    items, total = await _filtered_issues(
        backend_of(request),
        theme=theme,
        status=status,
        pattern=pattern,
        owner=owner,
        sort=sort,
        shared=shared,
    )
    for item in items:
        item["factor_rows"] = views.factor_rows(item["priority"])
    return render(
        request,
        "issues.html",
        items=items,
        total=total,
        filters={
            "theme": theme,
            "status": status,
            "pattern": pattern,
            "owner": owner,
            "sort": sort,
        }
        | {d: shared.get(d, "") for d in views.ISSUE_FEEDBACK_FILTERS},
        feedback_filters=views.ISSUE_FEEDBACK_FILTERS,
        statuses=views.STATUSES,
        query=request.url.query,
    )


@router.get("/export.csv")
async def export_csv(
    request: Request,
    person: PersonDep,
    shared: FiltersDep,
    theme: Annotated[str, Query(max_length=100)] = "",
    status: StatusFilter = "",
    pattern: PatternFilter = "",
    owner: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    del person
    backend = backend_of(request)
    items, _ = await _filtered_issues(
        backend,
        theme=theme,
        status=status,
        pattern=pattern,
        owner=owner,
        sort="-priority",
        shared=shared,
    )
    limit = asyncio.Semaphore(8)

    async def detail(issue_id: str) -> dict[str, Any]:
        async with limit:
            return await backend.issue(issue_id)

    details = await asyncio.gather(*(detail(i["id"]) for i in items))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        views.evidence_csv(details),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="feedback-{stamp}.csv"'},
    )


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
async def issue_page(request: Request, issue_id: str, person: PersonDep) -> Response:
    del person
    backend = backend_of(request)
    issue = await backend.issue(issue_id)
    impact = None
    if issue["resolved_at"] or issue["status"] == "resolved":
        try:
            impact = await backend.impact(issue_id)
        except BackendError as exc:
            if exc.status != 409:
                raise
    channels: dict[str, int] = {}
    for item in issue["representative_feedback"]:
        channels[item["channel"]] = channels.get(item["channel"], 0) + 1
    return render(
        request,
        "issue.html",
        issue=issue,
        factor_rows=views.factor_rows(issue["priority"]),
        channels=channels,
        impact=impact,
        impact_words=views.impact_words(impact) if impact else None,
    )


async def _act(
    request: Request, issue_id: str, person: Person, changes: dict[str, Any], done: str
) -> Response:
    """Sends a change to prioritize, naming the person in the audited note."""
    changes.setdefault("note", f"{done} by {person.name} ({person.role}) in the console")
    try:
        await backend_of(request).patch_issue(issue_id, changes)
    except BackendError as exc:
        flash(request, f"Not done: {exc.detail}", "error")
    else:
        told = " The customers who reported it will be told." if done == "Resolved" else ""
        flash(request, f"{done}.{told}")
    return back_to(f"/issues/{issue_id}")


Owner = Annotated[Person, requires("owner")]


@router.post("/issues/{issue_id}/acknowledge")
async def acknowledge(request: Request, issue_id: str, person: Owner) -> Response:
    return await _act(request, issue_id, person, {"status": "acknowledged"}, "Acknowledged")


@router.post("/issues/{issue_id}/assign")
async def assign(
    request: Request, issue_id: str, person: Owner, owner: Annotated[str, Form(max_length=200)]
) -> Response:
    changes: dict[str, Any] = {"owner": owner.strip() or None}
    return await _act(
        request, issue_id, person, changes, f"Assigned to {owner.strip() or 'nobody'}"
    )


@router.post("/issues/{issue_id}/plan")
async def plan(request: Request, issue_id: str, person: Owner, action: Message) -> Response:
    changes = {"status": "planned", "planned_action": action}
    return await _act(request, issue_id, person, changes, "Planned")


@router.post("/issues/{issue_id}/resolve/preview", response_class=HTMLResponse)
async def resolve_preview(
    request: Request, issue_id: str, person: Owner, message: Message
) -> Response:
    del person
    issue = await backend_of(request).issue(issue_id)
    return render(request, "resolve_preview.html", issue=issue, message=message.strip())


@router.post("/issues/{issue_id}/resolve")
async def resolve(request: Request, issue_id: str, person: Owner, message: Message) -> Response:
    changes = {"status": "resolved", "resolution_message": message.strip()}
    return await _act(request, issue_id, person, changes, "Resolved")


@router.post("/issues/{issue_id}/reopen")
async def reopen(request: Request, issue_id: str, person: Owner) -> Response:
    return await _act(request, issue_id, person, {"status": "acknowledged"}, "Reopened")


@router.post("/issues/{issue_id}/note")
async def note(request: Request, issue_id: str, person: Owner, note: Message) -> Response:
    """An internal note, kept in the issue's history under the person's name."""
    text = f"{note.strip()} ({person.name}, {person.role})"
    return await _act(request, issue_id, person, {"note": text}, "Note added")


@router.post("/issues/{issue_id}/merge")
async def merge(
    request: Request, issue_id: str, person: Owner, into: Annotated[str, Form(max_length=64)]
) -> Response:
    del person
    try:
        target = await backend_of(request).merge_issue(issue_id, into.strip())
    except BackendError as exc:
        flash(request, f"Not merged: {exc.detail}", "error")
        return back_to(f"/issues/{issue_id}")
    flash(request, f"Merged into {target['title']}.")
    return back_to(f"/issues/{target['id']}")


# Impact -------------------------------------------------------------------------------------


@router.get("/impact", response_class=HTMLResponse)
async def impact_page(
    request: Request, person: PersonDep, days: Annotated[int, Query(ge=1, le=365)] = 14
) -> Response:
    del person
    backend = backend_of(request)
    resolved = (await backend.issues(status=["resolved"], sort="-last_seen", limit=50))["items"]
    impacts = await asyncio.gather(
        *(backend.impact(i["id"], days=days) for i in resolved), return_exceptions=True
    )
    rows = []
    for issue, impact in zip(resolved, impacts, strict=True):
        if isinstance(impact, BaseException):
            if not isinstance(impact, BackendError):
                raise impact
            rows.append({"issue": issue, "impact": None, "words": impact.detail})
        else:
            rows.append({"issue": issue, "impact": impact, "words": views.impact_words(impact)})
    return render(request, "impact.html", rows=rows, days=days)


# Notifications ------------------------------------------------------------------------------


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, person: PersonDep) -> Response:
    del person
    backend = backend_of(request)
    (counts, total, partial), failed = await asyncio.gather(
        backend.notification_counts(), backend.failed_notifications()
    )
    outcomes = sorted({o for per in counts.values() for o in per})
    return render(
        request,
        "notifications.html",
        counts=counts,
        outcomes=outcomes,
        total=total,
        partial=partial,
        failed=failed["items"],
    )


@router.post("/notifications/{notification_id}/resend")
async def resend(
    request: Request, notification_id: str, person: Annotated[Person, requires("admin")]
) -> Response:
    del person
    try:
        await backend_of(request).resend(notification_id)
    except BackendError as exc:
        flash(request, f"Not resent: {exc.detail}", "error")
    else:
        flash(request, "Queued to send again.")
    return back_to("/notifications")
