"""The hosted survey page and the one-click unsubscribe: public, no login, no JavaScript.

A signed, expiring link (feedloop.common.links) names the invitation; the page is rendered on
the server in the invitation's language, works with the keyboard and on a phone, and posts
an ordinary form. Opening it marks the invitation opened; posting stores the answer.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from feedloop.common.errors import Invalid, NotFound
from feedloop.common.events import utcnow
from feedloop.common.links import LinkExpired, LinkInvalid, LinkSigner
from feedloop.solicit import answers, optout
from feedloop.solicit.compose import SURVEY_PURPOSE, UNSUBSCRIBE_PURPOSE
from feedloop.solicit.messages import Texts, texts
from feedloop.solicit.models import invitation_t
from feedloop.solicit.programs import Program, ProgramsConfig, Survey
from sqlalchemy import update
from sqlalchemy.engine import Row

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(include_in_schema=False)


class PageError(Exception):
    """A public page answered with a message instead of the form."""

    def __init__(self, status: int, key: str, language: str = "en") -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.language = language


def _page(request: Request, name: str, status: int, language: str, **context: Any) -> HTMLResponse:
    context.setdefault("title", texts(language)["subject"])
    response = TEMPLATES.TemplateResponse(
        request, name, {"language": language, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    return response


def _message(request: Request, error: PageError) -> HTMLResponse:
    words = texts(error.language)
    return _page(request, "message.html", error.status, error.language, heading=words[error.key])  # type: ignore[literal-required]


def _verified(request: Request, token: str, purpose: str) -> str:
    signer: LinkSigner = request.app.state.signer
    try:
        return signer.verify(token, purpose=purpose).subject
    except LinkExpired as exc:
        raise PageError(410, "expired") from exc
    except LinkInvalid as exc:
        raise PageError(404, "invalid") from exc


async def _invitation(request: Request, token: str) -> tuple[Row[Any], Program]:
    invitation_id = _verified(request, token, SURVEY_PURPOSE)
    config: ProgramsConfig = request.app.state.programs
    async with request.app.state.engine.connect() as conn:
        try:
            invitation = await answers.invitation_or_404(conn, invitation_id)
        except NotFound as exc:
            raise PageError(404, "invalid") from exc
    program = config.by_id(invitation.program_id)
    if program is None:
        raise PageError(410, "expired", invitation.language)
    return invitation, program


def _question(survey: Survey, words: Texts) -> tuple[str, str, str]:
    if survey.metric == "nps":
        return words["nps"], words["nps_low"], words["nps_high"]
    if survey.metric == "csat":
        return words["csat"], words["csat_low"], words["csat_high"]
    key = f"ces_{survey.direction}"
    return words[key], words["ces_low"], words["ces_high"]  # type: ignore[literal-required]


def _form(
    request: Request,
    token: str,
    program: Program,
    language: str,
    *,
    status: int = 200,
    score: int | None = None,
    comment: str = "",
    error: str | None = None,
) -> HTMLResponse:
    words = texts(language)
    question, low, high = _question(program.survey, words)
    return _page(
        request,
        "survey.html",
        status,
        language,
        action=f"/s/{token}",
        question=question,
        low_label=low,
        high_label=high,
        scores=list(range(program.survey.low, program.survey.high + 1)),
        score=score,
        with_comment=program.survey.comment,
        comment_label=words["comment"],
        comment=comment,
        max_comment=answers.MAX_COMMENT_CHARS,
        submit=words["submit"],
        error=error,
    )


@router.get("/s/{token}", response_class=HTMLResponse)
async def survey_page(token: str, request: Request) -> HTMLResponse:
    """Shows the survey (marking the invitation opened), prefilled with an earlier answer."""
    try:
        invitation, program = await _invitation(request, token)
    except PageError as error:
        return _message(request, error)
    async with request.app.state.engine.begin() as conn:
        await conn.execute(
            update(invitation_t)
            .where(invitation_t.c.id == invitation.id, invitation_t.c.opened_at.is_(None))
            .values(opened_at=utcnow())
        )
        before = await answers.current(conn, invitation.id)
    if before is not None and before.final:
        return _message(request, PageError(200, "final", invitation.language))
    return _form(
        request,
        token,
        program,
        invitation.language,
        score=before.score if before else None,
        comment=before.comment if before else "",
    )


def _score_of(raw: object) -> int | None:
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit() and len(raw.strip()) <= 3:
        return int(raw.strip())
    return None


@router.post("/s/{token}", response_class=HTMLResponse)
async def submit_answer(token: str, request: Request) -> HTMLResponse:
    """Stores the answer (or changes it while it may change) and thanks the customer."""
    try:
        invitation, program = await _invitation(request, token)
    except PageError as error:
        return _message(request, error)
    form = await request.form()
    score, comment = _score_of(form.get("score")), str(form.get("comment") or "")
    language = invitation.language
    if score is None:
        return _form(
            request,
            token,
            program,
            language,
            status=422,
            comment=comment,
            error=texts(language)["choose"],
        )
    try:
        async with request.app.state.engine.begin() as conn:
            recorded = await answers.submit(
                conn=conn,
                invitation_id=invitation.id,
                program=program,
                score=score,
                comment=comment,
                settings=request.app.state.settings,
                now=utcnow(),
            )
    except answers.AnswerFinal:
        return _message(request, PageError(409, "final", language))
    except Invalid:
        return _form(
            request,
            token,
            program,
            language,
            status=422,
            comment=comment,
            error=texts(language)["choose"],
        )
    if recorded.final and request.app.state.relay is not None:
        request.app.state.relay.wake()
    return _thanks(request, recorded, language)


def _thanks(request: Request, recorded: answers.Recorded, language: str) -> HTMLResponse:
    words = texts(language)
    detail = None
    if not recorded.final:
        until: datetime = recorded.settles_at
        detail = words["change"].format(until=until.strftime("%Y-%m-%d %H:%M UTC"))
    return _page(request, "message.html", 200, language, heading=words["thanks"], detail=detail)


async def _customer_of(request: Request, token: str) -> tuple[str, str]:
    invitation_id = _verified(request, token, UNSUBSCRIBE_PURPOSE)
    async with request.app.state.engine.connect() as conn:
        try:
            invitation = await answers.invitation_or_404(conn, invitation_id)
        except NotFound as exc:
            raise PageError(200, "unsubscribed") from exc  # erased: nothing is sent anyway
    return invitation.customer_id, invitation.language


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """Asks to confirm (a GET never changes anything: mail scanners follow links)."""
    try:
        _customer, language = await _customer_of(request, token)
    except PageError as error:
        return _message(request, error)
    words = texts(language)
    return _page(
        request,
        "message.html",
        200,
        language,
        heading=words["unsubscribe"],
        form_action=f"/u/{token}",
        form_label=words["unsubscribe"],
    )


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058 POST, or the confirmation form): no more surveys."""
    try:
        invitation_id = _verified(request, token, UNSUBSCRIBE_PURPOSE)
    except PageError as error:
        return _message(request, error)
    language = await optout.opt_out_invitation(request.app.state.engine, invitation_id, utcnow())
    return _message(request, PageError(200, "unsubscribed", language or "en"))
