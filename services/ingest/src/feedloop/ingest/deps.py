"""Request-scoped access to what the app's lifespan owns."""

from fastapi import Request
from feedloop.common.auth import require_scope
from feedloop.ingest.service import Ingestor
from feedloop.ingest.settings import SCOPE_WRITE, IngestSettings

auth_write = require_scope(SCOPE_WRITE)
"""Demands a valid API key with the feedback:write scope."""


def ingestor_of(request: Request) -> Ingestor:
    """Returns the app's ingestor."""
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def settings_of(request: Request) -> IngestSettings:
    """Returns the app's settings (called directly on the hot path, not as a dependency)."""
    settings: IngestSettings = request.app.state.settings
    return settings
