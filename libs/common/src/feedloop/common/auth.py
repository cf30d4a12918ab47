"""API keys per client system, stored as SHA-256 hashes, with scopes and per-key rate limits."""

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import yaml
from fastapi import Request
from feedloop.common.problems import Problem
from pydantic import BaseModel, Field, TypeAdapter

DEV_API_KEY = "fl_dev_local_only_key"
"""The documented development key; every service refuses it outside local mode."""


def hash_key(key: str) -> str:
    """Returns the hex SHA-256 of an API key, the only form in which keys are stored."""
    return hashlib.sha256(key.encode()).hexdigest()


DEV_API_KEY_SHA256 = hash_key(DEV_API_KEY)


class ApiClient(BaseModel):
    """One client system allowed to call our APIs."""

    client_id: str = Field(min_length=1, max_length=100)
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: frozenset[str]
    rate_per_second: float = Field(default=2000.0, gt=0, description="Items per second.")
    burst: int = Field(default=10_000, ge=1, description="Items allowed at once (a batch).")
    source_systems: frozenset[str] | None = Field(
        default=None,
        description="The source_system values this client may write for; None: any (local "
        "mode only, ingest refuses it elsewhere).",
    )

    def may_write_for(self, source_system: str) -> bool:
        """True when the client may post items on behalf of this source system."""
        return self.source_systems is None or source_system in self.source_systems


_CLIENTS = TypeAdapter(list[ApiClient])


def load_clients(inline: str | None, path: str | None) -> list[ApiClient]:
    """Reads client definitions from a JSON string and/or a YAML/JSON file."""
    clients: list[ApiClient] = []
    if inline:
        clients += _CLIENTS.validate_python(orjson.loads(inline))
    if path:
        clients += _CLIENTS.validate_python(yaml.safe_load(Path(path).read_text()))
    return clients


def dev_client(scopes: frozenset[str]) -> ApiClient:
    """The development client, used only in local mode when no client is configured."""
    return ApiClient(
        client_id="local-dev",
        key_sha256=DEV_API_KEY_SHA256,
        scopes=scopes,
        rate_per_second=10_000,
        burst=20_000,
    )


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class ApiKeyAuth:
    """Authenticates requests by key, checks scopes and applies a token bucket per key.

    Buckets exist only for configured clients (an unknown key is refused before one is
    made), so their memory is bounded by the configuration, not by what callers send.
    """

    def __init__(self, clients: list[ApiClient], *, allow_dev_key: bool) -> None:
        if not allow_dev_key and any(c.key_sha256 == DEV_API_KEY_SHA256 for c in clients):
            raise ValueError("the development API key is configured outside local mode")
        self._by_hash = {c.key_sha256: c for c in clients}
        self._buckets: dict[str, _Bucket] = {}

    def authenticate(self, request: Request) -> ApiClient:
        """Returns the client of the request's key, or raises 401."""
        key = request.headers.get("x-api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                key = auth[7:].strip()
        if not key:
            raise Problem(
                401,
                "Unauthorized",
                "an API key is required in the X-API-Key header",
                headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
                field="X-API-Key",
            )
        digest = hash_key(key)
        for known, client in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return client
        raise Problem(
            401,
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
            field="X-API-Key",
        )

    def take(self, client: ApiClient, cost: int = 1) -> None:
        """Consumes tokens from the client's bucket, or raises 429 with Retry-After."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(client.client_id, _Bucket(tokens=float(client.burst)))
        bucket.tokens = min(
            client.burst, bucket.tokens + (now - bucket.updated) * client.rate_per_second
        )
        bucket.updated = now
        cost = min(cost, client.burst)
        if bucket.tokens < cost:
            wait = (cost - bucket.tokens) / client.rate_per_second
            raise Problem(
                429,
                "Too many requests",
                f"client {client.client_id!r} exceeded {client.rate_per_second:g} items/s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        bucket.tokens -= cost

    def require(self, scope: str) -> Callable[[Request], Coroutine[Any, Any, ApiClient]]:
        """Returns a FastAPI dependency that demands a valid key holding `scope`."""

        async def dependency(request: Request) -> ApiClient:
            client = self.authenticate(request)
            if scope not in client.scopes:
                raise Problem(
                    403,
                    "Forbidden",
                    f"client {client.client_id!r} lacks the scope {scope!r}",
                    required_scope=scope,
                )
            self.take(client)
            return client

        return dependency


class KeySettings(Protocol):
    """What the auth builder reads of a service's settings (feedloop.common.settings)."""

    @property
    def api_keys(self) -> str | None:
        """JSON list of clients."""

    @property
    def api_keys_file(self) -> str | None:
        """YAML or JSON file of clients."""

    @property
    def allows_dev_key(self) -> bool:
        """True in local mode only."""


def configured_clients(settings: KeySettings, *, dev_scopes: frozenset[str]) -> list[ApiClient]:
    """Returns the configured clients; in local mode with none, the dev client with `dev_scopes`."""
    clients = load_clients(settings.api_keys, settings.api_keys_file)
    if not clients and settings.allows_dev_key:
        clients = [dev_client(dev_scopes)]
    return clients


def build_auth(
    settings: KeySettings,
    *,
    dev_scopes: frozenset[str],
    check: Callable[[list[ApiClient]], None] | None = None,
) -> ApiKeyAuth:
    """Returns the app's authenticator: configured clients (or the dev one), checked by `check`.

    `check` may refuse a configuration by raising (ingest refuses writers bound to no source).
    """
    clients = configured_clients(settings, dev_scopes=dev_scopes)
    if check is not None:
        check(clients)
    return ApiKeyAuth(clients, allow_dev_key=settings.allows_dev_key)


def writers_bound_to_sources(
    *, scope: str, local: bool, may: str
) -> Callable[[list[ApiClient]], None]:
    """A `check` for build_auth: outside local mode and tests, every client holding `scope`
    must name its source systems (an unbound key could claim another system's external ids,
    speak for its customers, or have surveys sent to them).

    The refusal reads "clients [...] <may> but list no source_systems".
    """

    def check(clients: list[ApiClient]) -> None:
        if local:
            return
        unbound = [c.client_id for c in clients if scope in c.scopes and c.source_systems is None]
        if unbound:
            raise ValueError(f"clients {unbound} {may} but list no source_systems")

    return check


def require_scope(scope: str) -> Callable[[Request], Coroutine[Any, Any, ApiClient]]:
    """Returns a FastAPI dependency demanding a key with `scope` from the app's `state.auth`.

    Use it in an alias: `ReaderDep = Annotated[ApiClient, Depends(require_scope(SCOPE_READ))]`.
    """

    async def dependency(request: Request) -> ApiClient:
        auth: ApiKeyAuth = request.app.state.auth
        return await auth.require(scope)(request)

    dependency.__doc__ = f"Demands a valid API key with the {scope} scope."
    return dependency
