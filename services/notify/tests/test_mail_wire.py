"""The e-mail on the wire: the fast path writes the same message the email package builds, and
falls back to it for what it cannot write as plain ASCII."""

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from feedloop.notify.delivery.channels import Outgoing
from feedloop.notify.delivery.channels.mail import EmailChannel, build_message, fast_wire
from feedloop.notify.delivery.render import Rendered

from .conftest import make_settings

UNSUBSCRIBE = "<https://n.example/v1/unsubscribe/k1.e30.AAAA>, <mailto:u@n.example?subject=x>"


def outgoing(**overrides: object) -> Outgoing:
    """A claimed e-mail delivery."""
    fields: dict[str, object] = {
        "delivery_id": "d-1",
        "lease_token": "t",
        "kind": "resolution",
        "round": 1,
        "channel": "email",
        "customer_id": "c-1",
        "issue_id": "i-1",
        "source_system": "crm",
        "attempts": 1,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "email": "c1@example.com",
        "locale": "de",
        "message": "Behoben.",
    }
    return Outgoing(**(fields | overrides))  # type: ignore[arg-type]


RENDERED = [
    Rendered("en", "What we did about your feedback", "We fixed it.\n", "<p>We fixed it.</p>"),
    Rendered("de", "Was wir geändert haben: Größen", "Wir haben es behoben. Grüße\n", None),
    Rendered("de", "Ä" * 120, "x\n" * 300, "<p>" + "é" * 2000 + "</p>"),
    Rendered("de", "Betreff", "Grüße\n\n.\nFrom here \n\n", "<p>ü</p>\n\n"),
    Rendered("en", "Long", "y" * 1500 + "\n", None),
]


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def summary(message: EmailMessage) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Headers (decoded, but Date) and each part's type and decoded content."""
    headers = {k.lower(): str(v) for k, v in message.items() if k.lower() != "date"}
    headers.pop("content-type")  # its boundary is random; the parts below say what it holds
    parts = [(p.get_content_type(), p.get_content()) for p in message.walk()
             if not p.is_multipart()]  # fmt: skip
    return headers, parts


@pytest.mark.parametrize("rendered", RENDERED)
def test_the_fast_path_writes_what_the_email_package_builds(rendered: Rendered) -> None:
    settings = make_settings()
    item = outgoing()
    fast = fast_wire(item, rendered, settings, list_unsubscribe=UNSUBSCRIBE)
    assert fast is not None
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    assert b"\n" not in fast.replace(b"\r\n", b""), "CRLF line ends only"
    slow = build_message(item, rendered, settings, list_unsubscribe=UNSUBSCRIBE)
    assert summary(parsed(fast)) == summary(parsed(slow.as_bytes(policy=email.policy.SMTP)))
    assert str(parsed(fast)["List-Unsubscribe"]) == UNSUBSCRIBE, "the link is not encoded"


@pytest.mark.parametrize(
    "overrides",
    [{"email": "jürgen@example.com"}, {"customer_id": "c\r\nBcc: x@evil.example"},
     {"issue_id": "ünïcode"}, {"customer_id": " padded"}],
)  # fmt: skip
def test_what_is_not_plain_ascii_goes_through_the_email_package(overrides: dict[str, str]) -> None:
    settings = make_settings()
    assert fast_wire(outgoing(**overrides), RENDERED[0], settings, list_unsubscribe="<x>") is None


def test_the_channel_falls_back_and_still_sends_a_valid_message() -> None:
    channel = EmailChannel(make_settings(smtp_host="127.0.0.1", smtp_port=2525))
    wire = channel.wire(outgoing(email="jürgen@example.com"), RENDERED[1])
    assert wire.mail_options == ["SMTPUTF8"]
    message = parsed(wire.data)
    assert str(message["To"]) == "jürgen@example.com"
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["Content-Language"]) == "de"
