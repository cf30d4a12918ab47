"""Rules at the door that need no network: key binding, local-only dev key, store budgets."""

import asyncio

import orjson
import pytest
from feedloop.common.auth import DEV_API_KEY_SHA256, hash_key
from feedloop.ingest.app import create_app
from feedloop.ingest.idempotency import KEY_OVERHEAD_BYTES, IdempotencyStore
from feedloop.ingest.settings import IngestSettings


def writer(**extra: object) -> str:
    """API_KEYS with one writer."""
    client = {"client_id": "crm", "key_sha256": hash_key("k"), "scopes": ["feedback:write"]}
    return orjson.dumps([client | extra]).decode()


def test_outside_local_mode_a_writer_must_name_its_source_systems() -> None:
    with pytest.raises(ValueError, match="source_systems"):
        create_app(IngestSettings(environment="prod", api_keys=writer()))
    create_app(IngestSettings(environment="prod", api_keys=writer(source_systems=["crm"])))


def test_the_development_key_is_refused_in_every_environment_but_local() -> None:
    dev = orjson.dumps(
        [{"client_id": "x", "key_sha256": DEV_API_KEY_SHA256, "scopes": [], "source_systems": []}]
    ).decode()
    for environment in ("test", "dev", "prod"):
        with pytest.raises(ValueError, match="development API key"):
            create_app(IngestSettings(environment=environment, api_keys=dev))
    create_app(IngestSettings(environment="local", api_keys=dev))


def test_unique_idempotency_keys_evict_only_their_own_clients_oldest_keys() -> None:
    budget = 50 * (KEY_OVERHEAD_BYTES + 20)
    store = IdempotencyStore(max_entries=10_000, ttl_s=3600, keys_max_bytes_per_client=budget)
    store.remember_key("quiet", "kept-key", "f")
    for n in range(5000):
        store.remember_key("flood", f"flood-{n:014d}", "f")
    assert store.key_bytes("flood") <= budget
    assert store.key_entries("flood") == 50
    assert store.check_key("flood", "flood-00000000004999", "other") is False  # newest kept
    assert store.check_key("flood", "flood-00000000000000", "other") is True  # oldest evicted
    assert store.check_key("quiet", "kept-key", "other") is False


def test_accepted_ids_stay_within_their_byte_budget() -> None:
    async def fill() -> IdempotencyStore:
        store = IdempotencyStore(max_entries=1_000_000, ttl_s=3600, max_bytes=64 * 1024)
        for n in range(10_000):
            store.remember(f"id-{n:032d}")
        return store

    store = asyncio.run(fill())
    assert store.ids_bytes <= 64 * 1024
    assert store.known(f"id-{9999:032d}") and not store.known(f"id-{0:032d}")
