"""The public "did it help?" routes: no API key, the signed link is the key.

`GET /v1/followup/{token}` shows the one question with yes / no and a comment box; `POST` (the
form, or JSON `{"answer": "yes"|"no", "comment": "..."}`) records the answer as survey feedback
on `raw-feedback`, linked to the issue. Rate-limited per client address and overall before
anything is verified; a forged or foreign-purpose token is answered 400, an expired one 410
(problem+json). Bodies are bounded. For customers' browsers, not integrators: out of OpenAPI.
"""

from html import escape
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from feedloop.common.events import utcnow
from feedloop.common.links import MAX_TOKEN_CHARS, LinkExpired, LinkInvalid
from feedloop.common.problems import Problem
from feedloop.notify.deps import SettingsDep, TransactionDep
from feedloop.notify.followup import service
from feedloop.notify.followup.links import PATH, Asked, FollowupLinks
from feedloop.notify.models import customer_t
from feedloop.notify.unsubscribe import _HEADERS, RateLimit, _page
from sqlalchemy import select

MAX_BODY_BYTES: Final = 8192
MAX_COMMENT: Final = 2000
Token = Annotated[str, Path(min_length=1, max_length=MAX_TOKEN_CHARS)]

router = APIRouter(prefix=PATH, include_in_schema=False)


class Following:
    """What the routes need, made once per app: the link reader and the rate limit."""

    def __init__(self, links: FollowupLinks, limit: RateLimit) -> None:
        self.links = links
        self.limit = limit


def _following(request: Request, settings: SettingsDep) -> Following:
    made: Following | None = getattr(request.app.state, "following", None)
    if made is None:
        made = Following(FollowupLinks(settings), RateLimit(rate_per_s=0.5, burst=10))
        request.app.state.following = made
    return made


FollowingDep = Annotated[Following, Depends(_following)]


def _verified(request: Request, token: str, following: Following) -> Asked:
    following.limit.take(request.client.host if request.client else "unknown")
    try:
        return following.links.read(token)
    except LinkExpired as exc:
        raise Problem(410, "Link expired", "this follow-up link has expired") from exc
    except LinkInvalid as exc:
        raise Problem(400, "Invalid link", "this follow-up link is not valid") from exc


async def _answer_of(request: Request) -> tuple[service.Answer, str]:
    """Reads yes/no and the comment from a form or JSON body (bounded)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "Payload too large", f"at most {MAX_BODY_BYTES} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, Any] = {}
    if kind == "application/json":
        try:
            loaded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Problem(400, "Invalid JSON", "the body is not JSON") from exc
        fields = loaded if isinstance(loaded, dict) else {}
    elif kind == "application/x-www-form-urlencoded":
        parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        fields = {k: v[0] for k, v in parsed.items()}
    answer = fields.get("answer")
    comment = fields.get("comment") or ""
    if answer not in ("yes", "no"):
        raise Problem(422, "Invalid answer", "answer must be 'yes' or 'no'", field="answer")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise Problem(422, "Invalid comment", f"at most {MAX_COMMENT} characters", field="comment")
    return answer, comment.replace("\x00", "").strip()


def _asked(request: Request, token: Token, following: FollowingDep) -> Asked:
    return _verified(request, token, following)


AskedDep = Annotated[Asked, Depends(_asked)]
"""The verified link of a POST (rate-limited first)."""
AnswerDep = Annotated[tuple[service.Answer, str], Depends(_answer_of)]
"""The yes/no and comment of a POST's bounded body."""


@router.post("/{token}", response_class=HTMLResponse)
async def answer(
    asked: AskedDep,
    answered: AnswerDep,
    settings: SettingsDep,
    conn: TransactionDep,
) -> HTMLResponse:
    # The link and the bounded body are checked (rate limit first) before the connection opens:
    # FastAPI resolves the dependencies in the order of the parameters.
    said, comment = answered
    locale = await conn.scalar(
        select(customer_t.c.locale).where(customer_t.c.id == asked.customer_id)
    )
    await service.record_answer(
        conn,
        asked,
        answer=said,
        comment=comment,
        locale=locale,
        prefix=settings.kafka_topic_prefix,
        now=utcnow(),
    )
    return HTMLResponse(_page("Thank you", "We have your answer."), headers=_HEADERS)


@router.get("/{token}", response_class=HTMLResponse)
async def question_page(token: Token, request: Request, following: FollowingDep) -> HTMLResponse:
    _verified(request, token, following)
    form = (
        '<form method="post">'
        '<label><input type="radio" name="answer" value="yes" required> Yes</label> '
        '<label><input type="radio" name="answer" value="no"> No</label>'
        f'<p><label>Comment <textarea name="comment" maxlength="{MAX_COMMENT}"></textarea>'
        '</label></p><button type="submit">Send</button></form>'
    )
    return HTMLResponse(
        _page("Is it fixed for you?", escape("Tell us whether our fix worked for you."), form),
        headers=_HEADERS,
    )
