"""Pure rules, no network: routing, acknowledgement policy, backoff, signatures, templates,
and the settings that refuse unsafe configurations."""

import email
import email.policy
import random
import time
from pathlib import Path
from typing import Any

import pytest
from feedloop.common import notifications
from feedloop.common.auth import DEV_API_KEY_SHA256
from feedloop.notify.app import create_app
from feedloop.notify.delivery.channels import Outgoing
from feedloop.notify.delivery.channels.mail import build_message
from feedloop.notify.delivery.queue import backoff_s
from feedloop.notify.delivery.render import MessageContext, Renderer, locale_candidates
from feedloop.notify.intake.routing import Contact, route, wants_acknowledgement
from feedloop.notify.settings import NotifySettings
from pydantic import ValidationError

from .factory import linked


def settings(**overrides: Any) -> NotifySettings:
    """Test-mode settings with a webhook for the shop and an SMTP server."""
    defaults: dict[str, Any] = {
        "environment": "test",
        "source_systems": {"shop": {"callback_url": "http://127.0.0.1:1/hooks"}},
        "webhook_signing_secret": "s",
        "smtp_host": "127.0.0.1",
    }
    return NotifySettings(**(defaults | overrides))


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        (Contact("shop", "review", "a@example.com"), "webhook"),
        (Contact("shop", "email", "a@example.com"), "email"),
        (Contact("shop", "email", None), "webhook"),
        (Contact("crm", "review", "a@example.com"), "email"),
        (Contact("crm", "review", None), "none"),
    ],
)
def test_routing_picks_exactly_one_channel_by_the_documented_rule(
    contact: Contact, expected: str
) -> None:
    assert route(contact, settings()) == expected


def test_routing_follows_the_configured_channel_order_and_needs_an_smtp_server() -> None:
    email_first = settings(channel_order=("email", "webhook"))
    assert route(Contact("shop", "review", "a@example.com"), email_first) == "email"
    no_smtp = settings(smtp_host=None)
    assert route(Contact("crm", "email", "a@example.com"), no_smtp) == "none"


def test_the_acknowledgement_policy_picks_detractors_and_severe_issues() -> None:
    policy = settings()
    assert wants_acknowledgement(linked("f", "i", "c", nps=6).payload, policy)
    assert not wants_acknowledgement(linked("f", "i", "c", nps=7).payload, policy)
    assert wants_acknowledgement(linked("f", "i", "c", severity="high").payload, policy)
    assert not wants_acknowledgement(linked("f", "i", "c", severity="medium").payload, policy)
    resolved = linked("f", "i", "c", severity="critical", status="resolved").payload
    assert not wants_acknowledgement(resolved, policy), "the fix message comes instead"
    off = settings(ack={"enabled": False})
    assert not wants_acknowledgement(linked("f", "i", "c", nps=0).payload, off)
    by_sentiment = settings(ack={"severities": [], "sentiment_at_most": -0.5})
    assert wants_acknowledgement(linked("f", "i", "c").payload, by_sentiment)


def test_backoff_doubles_with_jitter_and_stays_under_the_ceiling() -> None:
    config = settings(backoff_base_s=2, backoff_max_s=60)
    rng = random.Random(1)
    delays = [[backoff_s(n, config, rng) for _ in range(200)] for n in range(1, 9)]
    for n, samples in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (n - 1))
        assert all(ceiling / 2 <= d <= ceiling for d in samples)
        assert max(samples) - min(samples) > ceiling / 4, "jitter spreads retries"


def test_a_webhook_signature_verifies_only_the_exact_body_secret_and_a_recent_time() -> None:
    now = int(time.time())
    body = b'{"kind":"resolution"}'
    signature = notifications.sign("secret", now, body)
    ok = {"timestamp": str(now), "signature": signature, "body": body}
    assert notifications.verify("secret", **ok)  # type: ignore[arg-type]
    assert not notifications.verify("other", **ok)  # type: ignore[arg-type]
    assert not notifications.verify("secret", **(ok | {"body": body + b" "}))  # type: ignore[arg-type]
    assert not notifications.verify("secret", **ok, now=now + 3600)  # type: ignore[arg-type]


def test_locales_fall_back_from_region_to_language_to_the_default() -> None:
    assert locale_candidates("de-AT", "en") == ["de-at", "de", "en"]
    assert locale_candidates(None, "en") == ["en"]
    renderer = Renderer(templates_dir=None, default_locale="en")
    context = MessageContext("resolution", "c", "i", "Sizes fixed.")
    german = renderer.render("email", context, "de-AT")
    assert german.locale == "de" and "Sizes fixed." in german.text and german.html
    assert renderer.render("webhook", context, "fr-FR").locale == "en"
    assert renderer.render("webhook", context, "en").text == "Sizes fixed."


def test_html_e_mails_escape_the_resolution_message() -> None:
    renderer = Renderer(templates_dir=None, default_locale="en")
    context = MessageContext("resolution", "c", "i", "<script>x</script>")
    html = renderer.render("email", context, "en").html or ""
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_custom_templates_override_shipped_ones_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "resolution.subject.j2").write_text("Fixed for {{ customer_id }}")
    renderer = Renderer(templates_dir=str(tmp_path), default_locale="en")
    rendered = renderer.render("email", MessageContext("resolution", "c7", "i", None), "en")
    assert rendered.subject == "Fixed for c7"
    assert "has been fixed" in rendered.text, "the shipped body is still used"


def test_the_e_mail_message_id_is_the_same_on_every_attempt() -> None:
    config = settings()
    renderer = Renderer(templates_dir=None, default_locale="en")
    rendered = renderer.render("email", MessageContext("resolution", "c", "i", "x"), "en")
    ids = set()
    for attempt in (1, 2):
        item = Outgoing(
            delivery_id="d-1",
            lease_token=str(attempt),
            kind="resolution",
            round=1,
            channel="email",
            customer_id="c",
            issue_id="i",
            source_system="crm",
            attempts=attempt,
            created_at=None,  # type: ignore[arg-type]
            email="c@example.com",
            locale="en",
            message="x",
        )
        ids.add(build_message(item, rendered, config)["Message-ID"])
    assert ids == {"<d-1@notify.feedloop.example>"}


def test_outside_local_mode_notify_refuses_to_start_without_keys_or_secrets() -> None:
    with pytest.raises(ValidationError, match="API_KEYS"):
        NotifySettings(environment="prod")
    keys = f'[{{"client_id": "x", "key_sha256": "{"a" * 64}", "scopes": []}}]'
    with pytest.raises(ValidationError, match="signing secret"):
        NotifySettings(
            environment="dev",
            api_keys=keys,
            source_systems={"shop": {"callback_url": "https://shop.example/hook"}},
        )
    with pytest.raises(ValidationError, match="https"):
        NotifySettings(
            environment="prod",
            api_keys=keys,
            webhook_signing_secret="s",
            source_systems={"shop": {"callback_url": "http://shop.example/hook"}},
        )
    dev_key = f'[{{"client_id": "x", "key_sha256": "{DEV_API_KEY_SHA256}", "scopes": []}}]'
    with pytest.raises(ValueError, match="development API key"):
        create_app(NotifySettings(environment="prod", api_keys=dev_key))


def test_the_lease_must_outlast_every_send_timeout() -> None:
    with pytest.raises(ValidationError, match="lease_s"):
        settings(lease_s=5, smtp_timeout_s=10)


def test_local_mode_points_the_demo_source_systems_at_the_demo_sinks() -> None:
    local = NotifySettings(environment="local")
    assert str(local.webhooks["shop"].callback_url) == "http://127.0.0.1:8025/webhooks/shop"
    assert local.smtp_server == ("127.0.0.1", 2525)
    assert local.effective_smtp_security == "none"
    assert NotifySettings(environment="test").smtp_server is None


def test_source_systems_can_come_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text("crm:\n  callback_url: https://crm.example/hook\n  secret: s3\n")
    config = NotifySettings(environment="test", source_systems_file=str(path))
    assert config.secret_of("crm") == "s3"
    assert route(Contact("crm", "review", None), config) == "webhook"


@pytest.mark.parametrize(("locale", "language"), [("de-AT", "de"), ("en-GB", "en"), (None, "en")])
def test_an_e_mail_names_the_language_it_is_written_in(locale: str | None, language: str) -> None:
    renderer = Renderer(templates_dir=None, default_locale="en")
    rendered = renderer.render("email", MessageContext("resolution", "c", "i", "x"), locale)
    item = Outgoing(
        delivery_id="d-1",
        lease_token="1",
        kind="resolution",
        round=1,
        channel="email",
        customer_id="c",
        issue_id="i",
        source_system="crm",
        attempts=1,
        created_at=None,  # type: ignore[arg-type]
        email="c@example.com",
        locale=locale,
        message="x",
    )
    wire = build_message(item, rendered, settings()).as_bytes()
    received = email.message_from_bytes(wire, policy=email.policy.default)
    assert received.get_all("Content-Language") == [language]
    assert received.get_content_type() == "multipart/alternative", "the body is intact"
