"""Request-scoped access to what the app's lifespan owns."""

from fastapi import Request
from feedloop.common.auth import ApiClient
from feedloop.ingest.service import Ingestor
from feedloop.ingest.settings import SCOPE_WRITE, IngestSettings


async def auth_write(request: Request) -> ApiClient:
    """Demands a valid API key with the feedback:write scope."""
    dependency = request.app.state.auth.require(SCOPE_WRITE)
    client: ApiClient = await dependency(request)
    return client


def ingestor_of(request: Request) -> Ingestor:
    """Returns the app's ingestor."""
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def settings_of(request: Request) -> IngestSettings:
    """Returns the app's settings."""
    settings: IngestSettings = request.app.state.settings
    return settings
