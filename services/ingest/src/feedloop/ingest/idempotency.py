"""Remembers accepted feedback ids and idempotency keys, and coalesces concurrent retries."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["accepted", "duplicate", "unavailable"]
"""What became of one item: produced now, produced before, or not acknowledged (retry it)."""

# Measured bytes per entry beyond the key's characters (tracemalloc, CPython 3.11): the
# OrderedDict node, the str header, the timestamp; a keyed request adds its dataclass and the
# 64-character fingerprint. Accounting by these keeps the store under its budget in bytes.
ID_OVERHEAD_BYTES = 170
KEY_OVERHEAD_BYTES = 330


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """What a request with an Idempotency-Key was, so a reuse can be checked."""

    fingerprint: str
    stored_at: float


class _ClientKeys:
    """One client's Idempotency-Keys, oldest first, with their accounted bytes."""

    __slots__ = ("bytes", "entries")

    def __init__(self) -> None:
        self.entries: OrderedDict[str, KeyedRequest] = OrderedDict()
        self.bytes = 0


class IdempotencyStore:
    """An LRU of accepted feedback ids with a TTL, plus the produces in flight per id.

    Concurrent retries of one item wait on the first attempt instead of producing twice; later
    retries find the id and are answered 'duplicate'. The store is per process and warmed from
    raw-feedback at start; anything that still slips through (two replicas racing) carries the
    same deterministic event id and is dropped by every consumer.

    Both halves are bounded in bytes, evicting the oldest: accepted ids by `max_bytes`, and
    Idempotency-Keys by `keys_max_bytes_per_client` for each client, so a flood of unique keys
    from one client evicts only its own keys and never grows the process.
    """

    def __init__(
        self,
        *,
        max_entries: int,
        ttl_s: float,
        max_bytes: int = 64 * 1024 * 1024,
        keys_max_bytes_per_client: int = 8 * 1024 * 1024,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.keys_max_bytes_per_client = keys_max_bytes_per_client
        self.ttl_s = ttl_s
        self._done: OrderedDict[str, float] = OrderedDict()
        self._done_bytes = 0
        self._inflight: dict[str, asyncio.Future[bool]] = {}
        self._keys: dict[str, _ClientKeys] = {}

    def __len__(self) -> int:
        return len(self._done)

    @property
    def ids_bytes(self) -> int:
        """Accounted bytes of the accepted ids."""
        return self._done_bytes

    def _client_keys(self, client_id: str | None) -> list[_ClientKeys]:
        if client_id is None:
            return list(self._keys.values())
        keys = self._keys.get(client_id)
        return [keys] if keys is not None else []

    def key_entries(self, client_id: str | None = None) -> int:
        """Idempotency-Keys held, for one client or all."""
        return sum(len(keys.entries) for keys in self._client_keys(client_id))

    def key_bytes(self, client_id: str | None = None) -> int:
        """Accounted bytes of the Idempotency-Keys held, for one client or all."""
        return sum(keys.bytes for keys in self._client_keys(client_id))

    def _fresh(self, stored_at: float) -> bool:
        return time.monotonic() - stored_at < self.ttl_s

    def known(self, feedback_id: str) -> bool:
        """True when the id was accepted within the TTL."""
        stored = self._done.get(feedback_id)
        if stored is None:
            return False
        if not self._fresh(stored):
            del self._done[feedback_id]
            self._done_bytes -= len(feedback_id) + ID_OVERHEAD_BYTES
            return False
        return True

    def remember(self, feedback_id: str) -> None:
        """Records an accepted id, evicting the oldest beyond the size bounds."""
        if feedback_id not in self._done:
            self._done_bytes += len(feedback_id) + ID_OVERHEAD_BYTES
        self._done[feedback_id] = time.monotonic()
        self._done.move_to_end(feedback_id)
        while self._done and (
            len(self._done) > self.max_entries or self._done_bytes > self.max_bytes
        ):
            evicted, _ = self._done.popitem(last=False)
            self._done_bytes -= len(evicted) + ID_OVERHEAD_BYTES

    def claim(self, feedback_id: str) -> asyncio.Future[bool] | None:
        """Claims an id for producing: None if claimed, else the attempt already in flight."""
        pending = self._inflight.get(feedback_id)
        if pending is not None:
            return pending
        self._inflight[feedback_id] = asyncio.get_running_loop().create_future()
        return None

    def settle(self, feedback_id: str, outcome: Outcome) -> None:
        """Ends a claim: remembers the id once produced (here or elsewhere), wakes the retries."""
        future = self._inflight.pop(feedback_id, None)
        if outcome != "unavailable":
            self.remember(feedback_id)
        if future is not None and not future.done():
            future.set_result(outcome != "unavailable")

    async def once(self, feedback_id: str, produce: Callable[[], Awaitable[Outcome]]) -> Outcome:
        """Runs produce() unless the id is known or in flight; returns what became of it."""
        while True:
            if self.known(feedback_id):
                return "duplicate"
            pending = self.claim(feedback_id)
            if pending is None:
                break
            if await asyncio.shield(pending):
                return "duplicate"
            # The first attempt was not acknowledged: this retry tries itself.
        outcome: Outcome = "unavailable"
        try:
            outcome = await produce()
        finally:
            self.settle(feedback_id, outcome)
        return outcome

    def check_key(self, client_id: str, key: str, fingerprint: str) -> bool:
        """True if the key is new or was used with the same body; False on a conflicting reuse."""
        keys = self._keys.get(client_id)
        stored = keys.entries.get(key) if keys is not None else None
        if stored is None or not self._fresh(stored.stored_at):
            return True
        return stored.fingerprint == fingerprint

    def remember_key(self, client_id: str, key: str, fingerprint: str) -> None:
        """Records the body fingerprint a key was first used with, within the client's budget."""
        keys = self._keys.setdefault(client_id, _ClientKeys())
        if key not in keys.entries:
            keys.bytes += len(key) + KEY_OVERHEAD_BYTES
        keys.entries[key] = KeyedRequest(fingerprint, time.monotonic())
        keys.entries.move_to_end(key)
        while keys.entries and (
            len(keys.entries) > self.max_entries or keys.bytes > self.keys_max_bytes_per_client
        ):
            evicted, _ = keys.entries.popitem(last=False)
            keys.bytes -= len(evicted) + KEY_OVERHEAD_BYTES

    def forget(self, feedback_id: str) -> bool:
        """Drops an accepted id (a customer's erasure); True when it was held."""
        if self._done.pop(feedback_id, None) is None:
            return False
        self._done_bytes -= len(feedback_id) + ID_OVERHEAD_BYTES
        return True

    def forget_key(self, client_id: str, key: str) -> bool:
        """Drops one client's Idempotency-Key (a customer's erasure); True when it was held."""
        keys = self._keys.get(client_id)
        if keys is None or keys.entries.pop(key, None) is None:
            return False
        keys.bytes -= len(key) + KEY_OVERHEAD_BYTES
        return True
