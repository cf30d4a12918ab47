"""Request-scoped access to what the app's lifespan owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.db import EngineDep, TransactionDep
from feedloop.common.web import app_state, settings_of
from feedloop.notify.delivery.sender import Sender
from feedloop.notify.settings import (
    SCOPE_ADMIN,
    SCOPE_ERASE,
    SCOPE_READ,
    SCOPE_WRITE,
    NotifySettings,
)

__all__ = [
    "AdminDep",
    "EngineDep",
    "EraserDep",
    "ReaderDep",
    "SenderDep",
    "SettingsDep",
    "TransactionDep",
    "WriterDep",
]


SettingsDep = Annotated[NotifySettings, Depends(settings_of)]
SenderDep = Annotated[Sender | None, Depends(app_state("sender"))]
"""The app's sender (None when it does not send)."""
ReaderDep = Annotated[ApiClient, Depends(require_scope(SCOPE_READ))]
WriterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_WRITE))]
AdminDep = Annotated[ApiClient, Depends(require_scope(SCOPE_ADMIN))]
"""Resending and opting customers out or in (notifications:admin)."""
EraserDep = Annotated[ApiClient, Depends(require_scope(SCOPE_ERASE))]
"""Erasing a customer's contact data (customers:erase)."""
