"""Messages rendered per kind, channel and locale from Jinja2 templates.

Templates live in `templates/<locale>/<kind>.<part>.j2` (parts: `subject`, `webhook.txt`,
`email.txt`, `email.html`). A locale like `de-AT` tries `de-at`, then `de`, then the default
locale. A `templates_dir` setting is searched before the shipped templates, file by file, so an
operator may override one message or add a locale without copying the rest.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from feedloop.notify.delivery.channels import FeedbackRef

SHIPPED = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for its channel."""

    locale: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What a template may use."""

    kind: str
    customer_id: str
    issue_id: str
    resolution_message: str | None
    feedback: list[FeedbackRef] = field(default_factory=list)


def locale_candidates(locale: str | None, default: str) -> list[str]:
    """Returns the template directories to try for a locale, most specific first."""
    found: list[str] = []
    if locale:
        parts = locale.replace("_", "-").lower().split("-")
        found = ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    return [*dict.fromkeys([*found, default.lower()])]


class Renderer:
    """Renders notifications; template lookups are cached per locale and name."""

    def __init__(self, *, templates_dir: str | None, default_locale: str) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(SHIPPED)]
        if templates_dir:
            loaders.insert(0, jinja2.FileSystemLoader(templates_dir))
        self.default_locale = default_locale
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    @functools.cache  # noqa: B019 - one renderer per app, a handful of keys
    def _template(self, locale: str | None, name: str) -> tuple[str, jinja2.Template] | None:
        for candidate in locale_candidates(locale, self.default_locale):
            try:
                return candidate, self.env.get_template(f"{candidate}/{name}.j2")
            except jinja2.TemplateNotFound:
                continue
        return None

    def _render(self, locale: str | None, name: str, context: dict[str, Any]) -> tuple[str, str]:
        found = self._template(locale, name)
        if found is None:
            raise LookupError(f"no template {name!r} for locale {locale!r} or the default")
        used, template = found
        return used, template.render(**context).strip()

    def render(self, channel: str, message: MessageContext, locale: str | None) -> Rendered:
        """Renders a message for a channel ("webhook" or "email") in the best locale."""
        context = {
            "kind": message.kind,
            "customer_id": message.customer_id,
            "issue_id": message.issue_id,
            "resolution_message": message.resolution_message,
            "feedback": message.feedback,
        }
        used, subject = self._render(locale, f"{message.kind}.subject", context)
        _, text = self._render(used, f"{message.kind}.{channel}.txt", context)
        html = None
        if channel == "email":
            _, html = self._render(used, f"{message.kind}.email.html", context)
        return Rendered(locale=used, subject=" ".join(subject.split()), text=text, html=html)
