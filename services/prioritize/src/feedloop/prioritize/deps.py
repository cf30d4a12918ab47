"""Request-scoped access to what the app's lifespan owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.db import EngineDep, TransactionDep
from feedloop.common.outbox import OutboxRelay
from feedloop.common.web import app_state, settings_of
from feedloop.prioritize.settings import SCOPE_READ, SCOPE_WRITE, PrioritizeSettings

__all__ = ["EngineDep", "ReaderDep", "RelayDep", "SettingsDep", "TransactionDep", "WriterDep"]


SettingsDep = Annotated[PrioritizeSettings, Depends(settings_of)]
RelayDep = Annotated[OutboxRelay | None, Depends(app_state("relay"))]
"""The app's outbox relay (None before the lifespan starts it)."""
ReaderDep = Annotated[ApiClient, Depends(require_scope(SCOPE_READ))]
WriterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_WRITE))]
