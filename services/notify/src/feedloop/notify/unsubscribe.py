"""The public one-click unsubscribe routes (RFC 8058): no API key, the signed link is the key.

`POST /v1/unsubscribe/{token}` with the body `List-Unsubscribe=One-Click` (form-urlencoded or
multipart, as mailbox providers send it) opts the customer out of e-mail at once, through the
same preferences the admin API sets: every message not yet on its way ends `opted_out`.
`GET` on the same link only shows a page with one button that makes that POST, because link
scanners follow GETs and must not unsubscribe anyone. Requests are rate-limited per client
address and overall before anything is verified; a forged, expired or foreign-purpose token is
answered 400 or 410 (problem+json). Nothing is stored here but the preference (erased with the
customer, customers/service.py) and, in memory only, a bounded table of client addresses.

These routes are for customers' mail clients, not integrators: they stay out of the OpenAPI
document.
"""

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from feedloop.common.events import utcnow
from feedloop.common.links import MAX_TOKEN_CHARS, LinkExpired, LinkInvalid
from feedloop.common.problems import Problem
from feedloop.notify.customers import service
from feedloop.notify.delivery.list_unsubscribe import ONE_CLICK, PATH, OptOut, UnsubscribeLinks
from feedloop.notify.deps import EngineDep, SettingsDep

MAX_BODY_BYTES: Final = 4096
MAX_CLIENTS: Final = 10_000
"""Client addresses remembered by the rate limiter (least recently seen forgotten first)."""
_MULTIPART_ONE_CLICK = re.compile(
    rb'name="?List-Unsubscribe"?\r\n(?:[^\r\n]+\r\n)*\r\nOne-Click\r\n', re.IGNORECASE
)
_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

Token = Annotated[str, Path(min_length=1, max_length=MAX_TOKEN_CHARS)]

router = APIRouter(prefix=PATH, include_in_schema=False)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimit:
    """Token buckets per client address and one for everyone, all in memory and bounded."""

    def __init__(self, *, rate_per_s: float, burst: int, overall_factor: int = 20) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._overall = _Bucket(float(burst * overall_factor), time.monotonic())
        self._overall_rate = rate_per_s * overall_factor
        self._overall_burst = burst * overall_factor

    def take(self, client: str) -> None:
        """Takes one request's token, or raises 429 with Retry-After."""
        now = time.monotonic()
        bucket = self._clients.pop(client, None) or _Bucket(float(self.burst), now)
        self._clients[client] = bucket
        while len(self._clients) > MAX_CLIENTS:
            self._clients.popitem(last=False)
        waits = [
            _take(bucket, now, rate=self.rate_per_s, burst=self.burst),
            _take(self._overall, now, rate=self._overall_rate, burst=self._overall_burst),
        ]
        wait = max(waits)
        if wait > 0:
            raise Problem(
                429,
                "Too many requests",
                "too many unsubscribe requests; try again shortly",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def _take(bucket: _Bucket, now: float, *, rate: float, burst: int) -> float:
    """Takes a token from the bucket; returns 0, or the seconds until one is there."""
    bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
    bucket.updated = now
    if bucket.tokens < 1:
        return (1 - bucket.tokens) / rate
    bucket.tokens -= 1
    return 0.0


@dataclass(frozen=True)
class Unsubscribing:
    """What the routes need, made once per app: the link reader and the rate limit."""

    links: UnsubscribeLinks
    limit: RateLimit


def _unsubscribing(request: Request, settings: SettingsDep) -> Unsubscribing:
    made: Unsubscribing | None = getattr(request.app.state, "unsubscribing", None)
    if made is None:
        made = Unsubscribing(
            links=UnsubscribeLinks(settings, mail_from=settings.mail_from),
            limit=RateLimit(
                rate_per_s=settings.unsubscribe_rate_per_s, burst=settings.unsubscribe_burst
            ),
        )
        request.app.state.unsubscribing = made
    return made


def _verified(request: Request, token: str, unsubscribing: Unsubscribing) -> OptOut:
    """Applies the rate limit, then reads the link; problem+json when it is not genuine."""
    unsubscribing.limit.take(request.client.host if request.client else "unknown")
    try:
        return unsubscribing.links.read(token)
    except LinkExpired as exc:
        raise Problem(410, "Link expired", "this unsubscribe link has expired") from exc
    except LinkInvalid as exc:
        raise Problem(400, "Invalid link", "this unsubscribe link is not valid") from exc


def is_one_click(content_type: str, body: bytes) -> bool:
    """True when a POST body says List-Unsubscribe=One-Click (urlencoded or multipart)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("ascii", "replace"), max_num_fields=10)
        return fields.get("List-Unsubscribe") == ["One-Click"]
    if kind == "multipart/form-data":
        return _MULTIPART_ONE_CLICK.search(body) is not None
    return False


UnsubscribingDep = Annotated[Unsubscribing, Depends(_unsubscribing)]


@router.post("/{token}", response_class=HTMLResponse)
async def one_click(
    token: Token, request: Request, engine: EngineDep, unsubscribing: UnsubscribingDep
) -> HTMLResponse:
    opt_out = _verified(request, token, unsubscribing)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "Payload too large", f"at most {MAX_BODY_BYTES} bytes")
    if not is_one_click(request.headers.get("content-type", ""), body):
        raise Problem(400, "Not a one-click unsubscribe", f"the body must be {ONE_CLICK!r}")
    async with engine.begin() as conn:
        await service.set_preferences(
            conn=conn,
            customer_id=opt_out.customer_id,
            opted_out={opt_out.channel: True},
            now=utcnow(),
        )
    return HTMLResponse(
        _page("You are unsubscribed", "We will not send you these e-mails again."), headers=_HEADERS
    )


@router.get("/{token}", response_class=HTMLResponse)
async def confirm_page(
    token: Token, request: Request, unsubscribing: UnsubscribingDep
) -> HTMLResponse:
    _verified(request, token, unsubscribing)
    form = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return HTMLResponse(
        _page("Unsubscribe", "Stop e-mails about your feedback?", form), headers=_HEADERS
    )


def _page(title: str, text: str, form: str = "") -> str:
    """A small accessible page (no scripts, no external resources)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>{form}"
        "</main></body></html>"
    )
