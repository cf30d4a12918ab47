"""The public unsubscribe link: only a genuine unsubscribe token, POSTed as one-click, opts a
customer out; a GET (a link scanner) never does; floods are answered 429."""

import base64
from typing import Any

import httpx
import pytest
from feedloop.common.links import LinkKey, LinkSigner
from feedloop.notify.delivery.list_unsubscribe import UnsubscribeLinks
from feedloop.notify.unsubscribe import RateLimit, is_one_click

from tests.support.clients import AppClient

from .conftest import make_settings

SECRET = b"unsubscribe-route-test-key-32-b!"
LINK_KEYS = '{"k1": "' + base64.b64encode(SECRET).decode() + '"}'
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}  # fmt: skip


def links(**overrides: Any) -> UnsubscribeLinks:
    """The links a notify with the test's keys makes."""
    settings = make_settings(link_keys=LINK_KEYS, **overrides)
    return UnsubscribeLinks(settings, mail_from=settings.mail_from)


async def opted_out(client: httpx.AsyncClient, customer: str) -> dict[str, bool]:
    """The customer's opt-outs through the admin API."""
    response = await client.get(f"/v1/customers/{customer}/preferences")
    response.raise_for_status()
    result: dict[str, bool] = response.json()["opted_out"]
    return result


async def test_get_shows_a_button_and_only_the_one_click_post_opts_out(
    app_client: AppClient, sqlite_url: str
) -> None:
    token = links().token("c7")
    async with app_client(sqlite_url, link_keys=LINK_KEYS, consume=False, send=False) as client:
        page = await client.get(f"/v1/unsubscribe/{token}", headers={"X-API-Key": ""})
        assert page.status_code == 200
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert (await opted_out(client, "c7"))["email"] is False, "a GET changes nothing"

        empty = await client.post(f"/v1/unsubscribe/{token}", headers={"X-API-Key": ""})
        assert empty.status_code == 400
        assert empty.headers["content-type"] == "application/problem+json"
        assert (await opted_out(client, "c7"))["email"] is False

        done = await client.post(f"/v1/unsubscribe/{token}", **ONE_CLICK)  # type: ignore[arg-type]
        assert done.status_code == 200
        assert await opted_out(client, "c7") == {"email": True, "webhook": False, "all": False}
        again = await client.post(f"/v1/unsubscribe/{token}", **ONE_CLICK)  # type: ignore[arg-type]
        assert again.status_code == 200, "pressing twice is harmless"


async def test_forged_foreign_and_expired_tokens_opt_nobody_out(
    app_client: AppClient, sqlite_url: str
) -> None:
    genuine = links().token("c8")
    key_id, payload, tag = genuine.split(".")
    signer = LinkSigner([LinkKey(key_id="k1", secret=SECRET)])
    survey = signer.sign(purpose="survey", subject="c8", ttl_s=600, data={"ch": "email"})
    expired = LinkSigner([LinkKey("k1", SECRET)], clock=lambda: 0.0).sign(
        purpose="unsubscribe", subject="c8", ttl_s=60, data={"ch": "email"}
    )
    other_customer = links().token("c9")
    async with app_client(sqlite_url, link_keys=LINK_KEYS, consume=False, send=False) as client:
        for token, status in [
            (f"{key_id}.{payload}.{tag[:-2]}AA", 400),
            (f"{key_id}.{other_customer.split('.')[1]}.{tag}", 400),
            (survey, 400),
            (expired, 410),
            ("x" * 2000, 422),
        ]:
            answer = await client.post(f"/v1/unsubscribe/{token}", **ONE_CLICK)  # type: ignore[arg-type]
            assert answer.status_code == status, token
        assert (await opted_out(client, "c8"))["email"] is False
        assert (await opted_out(client, "c9"))["email"] is False


async def test_a_flood_from_one_address_is_answered_429_with_retry_after(
    app_client: AppClient, sqlite_url: str
) -> None:
    token = links().token("c10")
    options = {"unsubscribe_rate_per_s": 0.5, "unsubscribe_burst": 3}
    async with app_client(
        sqlite_url, link_keys=LINK_KEYS, consume=False, send=False, **options
    ) as client:
        answers = [(await client.get(f"/v1/unsubscribe/{token}")) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_the_rate_limit_forgets_the_oldest_addresses_past_its_bound() -> None:
    limit = RateLimit(rate_per_s=1.0, burst=1, overall_factor=100_000)
    for n in range(10_050):
        limit.take(f"10.0.{n // 256}.{n % 256}")
    assert len(limit._clients) == 10_000


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded; charset=utf-8", b"List-Unsubscribe=One-Click", True),
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=Nope", False),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--b--\r\n",
            True,
        ),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\nOne-Click\r\n--b--\r\n", False),
        ("text/plain", b"List-Unsubscribe=One-Click", False),
    ],
)
def test_one_click_bodies_are_recognised_urlencoded_or_multipart(
    content_type: str, body: bytes, expected: bool
) -> None:
    assert is_one_click(content_type, body) is expected


def test_the_header_carries_the_https_link_and_a_mailto_with_the_same_token() -> None:
    made = links(public_url="https://notify.shop.example/", mail_from="Care <care@shop.example>")
    header = made.header("c11")
    https, mailto = header.split(", ")
    assert https.startswith("<https://notify.shop.example/v1/unsubscribe/")
    token = https.removesuffix(">").rsplit("/", 1)[1]
    assert mailto == f"<mailto:unsubscribe@shop.example?subject=unsubscribe%20{token}>"
    assert made.read(token).customer_id == "c11"


def test_email_outside_local_mode_needs_a_public_url_and_link_keys() -> None:
    from feedloop.notify.delivery.channels.mail import EmailChannel
    from feedloop.notify.settings import NotifySettings
    from pydantic import ValidationError

    keys = f'[{{"client_id": "x", "key_sha256": "{"a" * 64}", "scopes": []}}]'
    settings = NotifySettings(environment="dev", api_keys=keys, smtp_host="mail.shop.example")
    with pytest.raises(ValueError, match="PUBLIC_URL and FEEDLOOP_NOTIFY_LINK_KEYS"):
        EmailChannel(settings)
    with pytest.raises(ValidationError, match="https"):
        NotifySettings(environment="prod", api_keys=keys, public_url="http://notify.example")
    with pytest.raises(ValidationError, match="selector and a private key"):
        NotifySettings(environment="test", dkim_selector="s1")
