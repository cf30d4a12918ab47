"""Request-scoped access to what the app's lifespan owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.db import EngineDep, TransactionDep
from feedloop.common.outbox import OutboxRelay
from feedloop.common.web import settings_of
from feedloop.prioritize.settings import SCOPE_READ, SCOPE_WRITE, PrioritizeSettings

__all__ = ["EngineDep", "ReaderDep", "RelayDep", "SettingsDep", "TransactionDep", "WriterDep"]


def relay_of(request: Request) -> OutboxRelay | None:
    """Returns the app's outbox relay (None before the lifespan starts it)."""
    relay: OutboxRelay | None = request.app.state.relay
    return relay


SettingsDep = Annotated[PrioritizeSettings, Depends(settings_of)]
RelayDep = Annotated[OutboxRelay | None, Depends(relay_of)]
ReaderDep = Annotated[ApiClient, Depends(require_scope(SCOPE_READ))]
WriterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_WRITE))]
