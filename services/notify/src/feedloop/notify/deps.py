"""Request-scoped access to what the app's lifespan owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from feedloop.common.auth import ApiClient
from feedloop.notify.delivery.sender import Sender
from feedloop.notify.settings import (
    SCOPE_ADMIN,
    SCOPE_ERASE,
    SCOPE_READ,
    SCOPE_WRITE,
    NotifySettings,
)
from sqlalchemy.ext.asyncio import AsyncEngine


async def auth_read(request: Request) -> ApiClient:
    """Demands a valid API key with the notifications:read scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_READ)(request)
    return client


async def auth_write(request: Request) -> ApiClient:
    """Demands a valid API key with the notifications:write scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_WRITE)(request)
    return client


async def auth_admin(request: Request) -> ApiClient:
    """Demands a valid API key with the notifications:admin scope (resend, opt-out)."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_ADMIN)(request)
    return client


async def auth_erase(request: Request) -> ApiClient:
    """Demands a valid API key with the customers:erase scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_ERASE)(request)
    return client


def engine_of(request: Request) -> AsyncEngine:
    """Returns the app's database engine."""
    engine: AsyncEngine = request.app.state.engine
    return engine


def settings_of(request: Request) -> NotifySettings:
    """Returns the app's settings."""
    settings: NotifySettings = request.app.state.settings
    return settings


def sender_of(request: Request) -> Sender | None:
    """Returns the app's sender (None when it does not send)."""
    sender: Sender | None = request.app.state.sender
    return sender


EngineDep = Annotated[AsyncEngine, Depends(engine_of)]
SettingsDep = Annotated[NotifySettings, Depends(settings_of)]
SenderDep = Annotated[Sender | None, Depends(sender_of)]
ReaderDep = Annotated[ApiClient, Depends(auth_read)]
WriterDep = Annotated[ApiClient, Depends(auth_write)]
AdminDep = Annotated[ApiClient, Depends(auth_admin)]
EraserDep = Annotated[ApiClient, Depends(auth_erase)]
