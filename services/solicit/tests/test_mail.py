"""Invitations that arrive, and replies that unsubscribe.

The invitation is received by a real SMTP server (aiosmtpd) as raw bytes and its DKIM signature
verified with dkimpy; it carries List-Unsubscribe (https and mailto), List-Unsubscribe-Post and
Content-Language. A real SMTP client (aiosmtplib) then replies to the mailto on solicit's
inbound listener, and the customer is opted out exactly as the one-click link does.
"""

from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import dkim
import httpx
import pytest
from feedloop.solicit.app import create_app

from tests.support.keys import TEST_API_KEY
from tests.support.mail import (
    DOMAIN,
    SELECTOR,
    DkimKey,
    RawMail,
    dkim_key,
    mailto_link,
    parse,
    served,
    signed_headers,
    smtp_raw,
)
from tests.support.polling import eventually
from tests.support.receivers import free_port

from .conftest import broker_settings
from .test_flow import decisions, touchpoint

__all__ = ["dkim_key", "smtp_raw"]  # fixtures


def reply_to(mailto: str, *, subject: str | None = None, to: str | None = None) -> EmailMessage:
    """What a mail client writes when the customer uses the mailto (or a crafted variant)."""
    parts = urlsplit(mailto)
    written = unquote(parts.query.removeprefix("subject="))
    message = EmailMessage()
    written = subject if subject is not None else written
    for name, value in (("From", "c@example.com"), ("To", to or parts.path), ("Subject", written)):
        message[name] = value
    message.set_content("Please stop.\n")
    return message


def inbound_settings(tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, **more: Any) -> Any:
    """Settings on the test broker, with the inbound listener on a free port, no consumers."""
    return broker_settings(
        tmp_path, kafka_bootstrap, topic_prefix, inbound_smtp_port=free_port(), consume=False,
        **more,
    )  # fmt: skip


def check_signed_invitation(raw: bytes, dkim_key: DkimKey) -> str:
    """Checks the invitation's DKIM signature and unsubscribe headers; returns its mailto."""
    assert dkim.verify(raw, dnsfunc=dkim_key.dns), "the DKIM signature verifies"
    message = parse(raw)
    signature, names = signed_headers(message)
    assert {"from", "list-unsubscribe", "list-unsubscribe-post", "content-language"} <= names
    assert f"d={DOMAIN}" in signature and f"s={SELECTOR}" in signature
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["Content-Language"]) == "fr"
    links = str(message["List-Unsubscribe"])
    assert links.startswith("<http") and "/u/" in links
    mailto = mailto_link(message)
    assert mailto.startswith(f"mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20")
    return mailto


async def test_an_invitation_is_signed_and_a_reply_to_its_mailto_opts_the_customer_out(
    dkim_key: DkimKey, smtp_raw: tuple[RawMail, int], tmp_path: Path, kafka_bootstrap: str,
    topic_prefix: str,
) -> None:  # fmt: skip
    mail = smtp_raw[0]
    settings = inbound_settings(
        tmp_path,
        kafka_bootstrap,
        topic_prefix,
        smtp_port=smtp_raw[1],
        mail_from=f"Surveys <surveys@{DOMAIN}>",
        dkim_selector=SELECTOR,
        dkim_private_key_file=str(dkim_key.private_key_file),
        inbound_per_minute=5,
    )
    inbound_port = settings.inbound_smtp_port
    async with (
        served(create_app(settings), free_port()) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": TEST_API_KEY}) as api,
    ):
        first = await api.post("/v1/touchpoints", json=touchpoint("m-1", "c-m", locale="fr-FR"))
        assert first.status_code == 200, first.text
        await eventually(lambda: mail.count(1), timeout_s=30)
        mailto = check_signed_invitation(mail.messages[0], dkim_key)

        async def reply(message: EmailMessage) -> Any:
            return await aiosmtplib.send(message, hostname="127.0.0.1", port=inbound_port)

        # Neither a subject without a token nor a forged token opts anyone out.
        token = unquote(mailto.partition("subject=")[2]).split()[-1]
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for bad in (
            reply_to(mailto, subject="stop it"),
            reply_to(mailto, subject=f"Re: unsubscribe {forged}"),
        ):
            with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
                await reply(bad)
            assert refused.value.code == 550
        second = await api.post(
            "/v1/touchpoints", json=touchpoint("m-2", "c-m", kind="ticket.solved")
        )
        assert decisions(second.json())["ticket-csat"] == "fatigue", "not opted out yet"

        # The customer's mail client sends what the mailto says ("Re:" in front is fine too).
        mailed = reply_to(mailto)
        mailed.replace_header("Subject", "Re: " + str(mailed["Subject"]))
        answer = await reply(mailed)
        assert answer[1].startswith("OK"), answer
        third = await api.post(
            "/v1/touchpoints", json=touchpoint("m-3", "c-m", kind="ticket.solved")
        )
        assert decisions(third.json())["ticket-csat"] == "opted_out"

        # The token in the address works alike; a flood from one client is told to wait.
        addressed = reply_to(mailto, subject="", to=f"unsubscribe+{token}@{DOMAIN}")
        assert (await reply(addressed))[1].startswith("OK")
        codes = [await _code(reply, addressed) for _ in range(12)]
        assert 451 in codes, codes  # 5 a minute (12 tries cover a minute boundary)
    assert len(mail.messages) == 1, "nothing more was e-mailed to the customer"


async def _code(reply: Any, message: EmailMessage) -> int:
    code = 250
    try:
        await reply(message)
    except aiosmtplib.SMTPResponseException as exc:
        code = exc.code
    return code


async def test_the_inbound_listener_refuses_oversized_messages(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = inbound_settings(
        tmp_path, kafka_bootstrap, topic_prefix, inbound_max_bytes=2048, send=False
    )
    inbound_port = settings.inbound_smtp_port
    async with served(create_app(settings), free_port()):
        big = reply_to("mailto:unsubscribe@x.example?subject=unsubscribe%20a.b.c")
        big.set_content("x" * 5000 + "\n")
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await aiosmtplib.send(big, hostname="127.0.0.1", port=inbound_port)
        assert refused.value.code == 552
