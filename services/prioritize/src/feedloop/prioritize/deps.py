"""Request-scoped access to what the app's lifespan owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from feedloop.common.auth import ApiClient
from feedloop.prioritize.outbox import OutboxRelay
from feedloop.prioritize.settings import SCOPE_READ, SCOPE_WRITE, PrioritizeSettings
from sqlalchemy.ext.asyncio import AsyncEngine


async def auth_read(request: Request) -> ApiClient:
    """Demands a valid API key with the issues:read scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_READ)(request)
    return client


async def auth_write(request: Request) -> ApiClient:
    """Demands a valid API key with the issues:write scope."""
    client: ApiClient = await request.app.state.auth.require(SCOPE_WRITE)(request)
    return client


def engine_of(request: Request) -> AsyncEngine:
    """Returns the app's database engine."""
    engine: AsyncEngine = request.app.state.engine
    return engine


def settings_of(request: Request) -> PrioritizeSettings:
    """Returns the app's settings."""
    settings: PrioritizeSettings = request.app.state.settings
    return settings


def relay_of(request: Request) -> OutboxRelay | None:
    """Returns the app's outbox relay (None when not consuming)."""
    relay: OutboxRelay | None = request.app.state.relay
    return relay


EngineDep = Annotated[AsyncEngine, Depends(engine_of)]
SettingsDep = Annotated[PrioritizeSettings, Depends(settings_of)]
RelayDep = Annotated[OutboxRelay | None, Depends(relay_of)]
ReaderDep = Annotated[ApiClient, Depends(auth_read)]
WriterDep = Annotated[ApiClient, Depends(auth_write)]
