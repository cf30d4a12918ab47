"""Fixture factories shared by the test packages: one definition, bound to each package's values.

A conftest binds a fixture to its name by assignment, e.g. `receiver = webhook_receiver(SECRET)`.
"""

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.support.receivers import SmtpServer, WebhookReceiver


def webhook_receiver(secret: str) -> Callable[[], AsyncIterator[WebhookReceiver]]:
    """A fixture: a webhook receiver on loopback that verifies signatures made with `secret`."""

    @pytest.fixture
    async def receiver() -> AsyncIterator[WebhookReceiver]:
        hooks = WebhookReceiver(secret=secret)
        await hooks.start()
        yield hooks
        await hooks.stop()

    return receiver


def smtp_server() -> Callable[[], Iterator[SmtpServer]]:
    """A fixture: an SMTP server (aiosmtpd) on loopback."""

    @pytest.fixture
    def smtp() -> Iterator[SmtpServer]:
        server = SmtpServer()
        server.start()
        yield server
        server.stop()

    return smtp
