"""Alerts as messages: a subject, plain text (also the Slack-compatible webhook's `text`) and
HTML, from Jinja2 templates in `templates/` (HTML autoescaped). Pure: no I/O."""

import functools
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from feedloop.notify.delivery.render import Rendered

TEMPLATES = Path(__file__).parent / "templates"
KINDS = {"kpi.spike_detected": "spike", "kpi.weekly_digest": "digest"}


@functools.cache
def _env(html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _link(console_url: str, path: str, **query: str) -> str:
    return console_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _number(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:g}{unit}"


def _hours(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 3600:.1f} h"


def render(kind: str, payload: dict[str, Any], *, console_url: str) -> Rendered:
    """The message of one alert event (`kind`: spike or digest; `payload`: the event's)."""
    context = {
        "a": payload,
        "console": console_url.rstrip("/"),
        "link": functools.partial(_link, console_url),
        "next_day": _next_day,
        "number": _number,
        "hours": _hours,
    }
    subject = _env(False).get_template(f"{kind}.subject.j2").render(context).strip()
    text = _env(False).get_template(f"{kind}.txt.j2").render(context)
    html = _env(True).get_template(f"{kind}.html.j2").render(context)
    return Rendered(locale="en", subject=subject[:200], text=text, html=html)
