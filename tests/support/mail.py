"""Mail that arrives, as a receiving mailbox sees it: raw bytes from a real SMTP server
(aiosmtpd), DKIM verified with dkimpy against a test key, List-Unsubscribe read as a provider
does, and the sending service served by uvicorn on loopback (real HTTP for the links).

Shared by notify's and solicit's mail tests.
"""

import asyncio
import base64
import email
import email.policy
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from starlette.types import ASGIApp

from tests.support.polling import eventually
from tests.support.receivers import free_port

SELECTOR = "fl2026"
DOMAIN = "feedloop.example"


@dataclass
class RawMail:
    """aiosmtpd handler that keeps each accepted message's bytes as they arrived."""

    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accepts and keeps one message."""
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"

    async def count(self, n: int) -> bool:
        """Whether at least n messages arrived (for `eventually`)."""
        return len(self.messages) >= n


@dataclass(frozen=True)
class DkimKey:
    """An RSA key pair as a file (for the sender) and a DNS TXT record (for the verifier)."""

    private_key_file: Path
    txt_record: bytes

    def dns(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's dnsfunc: answers the selector's TXT lookup, nothing else."""
        return self.txt_record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None


def rsa_key(path: Path) -> None:
    """Writes a fresh 2048-bit RSA private key (openssl) to `path`."""
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip


def make_dkim_key(folder: Path) -> DkimKey:
    """A fresh key pair in `folder`, with the TXT record that publishes its public half."""
    private = folder / "dkim.pem"
    rsa_key(private)
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return DkimKey(private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    """A fresh 2048-bit RSA key made with openssl (import it into a test module to use it)."""
    return make_dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture
def smtp_raw() -> Iterator[tuple[RawMail, int]]:
    """A real SMTP server on loopback that keeps raw messages."""
    handler, port = RawMail(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@asynccontextmanager
async def served(app: ASGIApp, port: int) -> AsyncIterator[str]:
    """Runs an app under uvicorn on loopback (real HTTP) until the block ends; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server, task), timeout_s=60, every_s=0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raises what stopped it
    return server.started


def parse(raw: bytes) -> email.message.EmailMessage:
    """The message as a mail client reads it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def https_link(message: email.message.EmailMessage) -> str:
    """The http(s) URI of the List-Unsubscribe header."""
    return next(link for link in unsubscribe_links(message) if link.startswith("http"))


def mailto_link(message: email.message.EmailMessage) -> str:
    """The mailto URI of the List-Unsubscribe header."""
    return next(link for link in unsubscribe_links(message) if link.startswith("mailto:"))


def unsubscribe_links(message: email.message.EmailMessage) -> list[str]:
    """The URIs of the List-Unsubscribe header, in order."""
    return re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))


def signed_headers(message: email.message.EmailMessage) -> tuple[str, set[str]]:
    """The DKIM-Signature header (unfolded, no spaces) and the names of the headers it signs."""
    signature = str(message["DKIM-Signature"]).replace(" ", "").replace("\r\n", "")
    found = re.search(r"h=([^;]+)", signature)
    assert found, signature
    return signature, set(found.group(1).lower().split(":"))
