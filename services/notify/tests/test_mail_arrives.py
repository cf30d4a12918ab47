"""Mail that arrives: every e-mail carries a DKIM signature that verifies, List-Unsubscribe with
a one-click link that opts the customer out over real HTTP, and Content-Language.

The messages are received by a real SMTP server (aiosmtpd) as raw bytes, verified with dkimpy
(its DNS lookup answered from the test's key), and the link is followed with a real HTTP client
against notify served by uvicorn on loopback.
"""

import base64
from email.message import EmailMessage
from pathlib import Path

import dkim
import httpx
from aiokafka import AIOKafkaProducer
from feedloop.common.mail.dkim import DkimSigner
from feedloop.notify.app import create_app

from tests.support.clients import send_all
from tests.support.keys import TEST_API_KEY
from tests.support.mail import (
    DOMAIN,
    SELECTOR,
    DkimKey,
    RawMail,
    dkim_key,
    https_link,
    parse,
    rsa_key,
    served,
    signed_headers,
    smtp_raw,
)
from tests.support.polling import eventually
from tests.support.receivers import free_port

from .conftest import make_settings, notifications_of
from .factory import issue, linked, records

__all__ = ["dkim_key", "smtp_raw"]  # fixtures

LINK_KEYS = '{"k1": "' + base64.b64encode(b"unsubscribe-test-key-32-bytes-!!").decode() + '"}'


def check_signed_mail(raw: bytes, dkim_key: DkimKey) -> EmailMessage:
    """The DKIM signature verifies and covers From and List-Unsubscribe(-Post); the mail names
    its language and has a plain-text body. Returns the parsed message."""
    assert dkim.verify(raw, dnsfunc=dkim_key.dns), "the DKIM signature verifies"
    message = parse(raw)
    signed, names = signed_headers(message)
    assert {"from", "list-unsubscribe", "list-unsubscribe-post"} <= names
    assert f"d={DOMAIN}" in signed and f"s={SELECTOR}" in signed
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert f"<mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20" in str(
        message["List-Unsubscribe"]
    )
    assert str(message["Content-Language"]) == "en"
    assert message.get_body(("plain",)).get_content().strip()  # type: ignore[union-attr]
    return message


async def unsubscribe_one_click(message: EmailMessage, api: httpx.AsyncClient) -> None:
    """Posts the one-click unsubscribe of the mail's https link; c1 is then opted out of e-mail."""
    async with httpx.AsyncClient() as provider:
        answer = await provider.post(
            https_link(message),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 200, answer.text
    preferences = (await api.get("/v1/customers/c1/preferences")).json()
    assert preferences["opted_out"]["email"] is True


async def second_resolution_outcome(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, prefix: str
) -> str:
    """Resolves a second issue of c1's and returns that notification's outcome once settled."""
    second = [
        linked("f2", "i2", "c1", source="crm", email="c1@example.com"),
        issue("i2", 1, "resolved", message="We fixed the colours."),
    ]
    await send_all(producer, records(second, prefix))

    async def second_settled() -> bool:
        items = await notifications_of(api, feedback_id="f2")
        return len(items) == 1 and items[0]["outcome"] is not None

    await eventually(second_settled, timeout_s=30)
    [item] = await notifications_of(api, feedback_id="f2")
    outcome: str = item["outcome"]
    return outcome


async def test_a_resolution_mail_is_dkim_signed_and_its_one_click_link_opts_the_customer_out(
    dkim_key: DkimKey,
    smtp_raw: tuple[RawMail, int],
    sqlite_url: str,
    raw_producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    mail, smtp_port = smtp_raw
    port = free_port()
    settings = make_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        database_url=sqlite_url,
        port=port,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        mail_from=f"Customer care <care@{DOMAIN}>",
        public_url=f"http://127.0.0.1:{port}",
        link_keys=LINK_KEYS,
        dkim_selector=SELECTOR,
        dkim_private_key_file=str(dkim_key.private_key_file),
    )
    async with (
        served(create_app(settings), port) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": TEST_API_KEY}) as api,
    ):
        first = [
            linked("f1", "i1", "c1", source="crm", email="c1@example.com"),
            issue("i1", 1, "resolved", message="We fixed the sizes."),
        ]
        await send_all(raw_producer, records(first, topic_prefix))
        await eventually(lambda: mail.count(1), timeout_s=30)
        message = check_signed_mail(mail.messages[0], dkim_key)
        # What a mailbox provider does when the customer presses "unsubscribe" (RFC 8058).
        await unsubscribe_one_click(message, api)
        outcome = await second_resolution_outcome(api, raw_producer, topic_prefix)
    assert outcome == "opted_out"
    assert len(mail.messages) == 1, "nothing more was e-mailed to the customer"


def test_a_changed_body_or_a_different_key_fails_dkim_verification(
    dkim_key: DkimKey, tmp_path: Path
) -> None:
    signer = DkimSigner(
        selector=SELECTOR, domain=DOMAIN, private_key=dkim_key.private_key_file.read_bytes()
    )
    message = (
        f"From: care@{DOMAIN}\r\nTo: c@example.com\r\nSubject: hi\r\n"
        "List-Unsubscribe: <https://n.example/v1/unsubscribe/t>\r\n\r\nWe fixed it.\r\n"
    ).encode()
    signed = signer.sign(message)
    assert dkim.verify(signed, dnsfunc=dkim_key.dns)
    assert not dkim.verify(signed.replace(b"We fixed it.", b"We broke it."), dnsfunc=dkim_key.dns)
    assert not dkim.verify(
        signed.replace(b"n.example/v1/unsubscribe/t", b"evil.example/x"), dnsfunc=dkim_key.dns
    ), "List-Unsubscribe is covered by the signature"
    other = tmp_path / "other.pem"
    rsa_key(other)
    forged = DkimSigner(selector=SELECTOR, domain=DOMAIN, private_key=other.read_bytes())
    assert not dkim.verify(forged.sign(message), dnsfunc=dkim_key.dns)
