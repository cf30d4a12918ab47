"""Remembers accepted feedback ids and idempotency keys, and coalesces concurrent retries."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["accepted", "duplicate"]


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """What a request with an Idempotency-Key was, so a reuse can be checked."""

    fingerprint: str
    stored_at: float


class IdempotencyStore:
    """An LRU of accepted feedback ids with a TTL, plus the produces in flight per id.

    Concurrent retries of one item wait on the first attempt instead of producing twice; later
    retries find the id and are answered 'duplicate'. The store is per process and warmed from
    raw-feedback at start; anything that still slips through (two replicas racing) carries the
    same deterministic event id and is dropped by every consumer.
    """

    def __init__(self, *, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._done: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._keys: OrderedDict[tuple[str, str], KeyedRequest] = OrderedDict()

    def __len__(self) -> int:
        return len(self._done)

    def _fresh(self, stored_at: float) -> bool:
        return time.monotonic() - stored_at < self.ttl_s

    def known(self, feedback_id: str) -> bool:
        """True when the id was accepted within the TTL."""
        stored = self._done.get(feedback_id)
        if stored is None:
            return False
        if not self._fresh(stored):
            del self._done[feedback_id]
            return False
        return True

    def remember(self, feedback_id: str) -> None:
        """Records an accepted id, evicting the oldest beyond the size bound."""
        self._done[feedback_id] = time.monotonic()
        self._done.move_to_end(feedback_id)
        while len(self._done) > self.max_entries:
            self._done.popitem(last=False)

    def claim(self, feedback_id: str) -> asyncio.Future[None] | None:
        """Claims an id for producing: None if claimed, else the attempt already in flight."""
        pending = self._inflight.get(feedback_id)
        if pending is not None:
            return pending
        self._inflight[feedback_id] = asyncio.get_running_loop().create_future()
        return None

    def settle(self, feedback_id: str, error: BaseException | None) -> None:
        """Ends a claim: remembers the id on success, wakes the retries waiting on it."""
        future = self._inflight.pop(feedback_id, None)
        if error is None:
            self.remember(feedback_id)
        if future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error if isinstance(error, Exception) else RuntimeError())
                future.exception()  # retrieved here: each waiter retries by itself

    async def once(self, feedback_id: str, produce: Callable[[], Awaitable[None]]) -> Outcome:
        """Runs produce() unless the id is known or in flight; raises what produce raises."""
        while True:
            if self.known(feedback_id):
                return "duplicate"
            pending = self.claim(feedback_id)
            if pending is None:
                break
            try:
                await asyncio.shield(pending)
                return "duplicate"
            except Exception:
                continue  # the first attempt failed: this retry tries itself
        try:
            await produce()
        except BaseException as exc:
            self.settle(feedback_id, exc)
            raise
        self.settle(feedback_id, None)
        return "accepted"

    def check_key(self, client_id: str, key: str, fingerprint: str) -> bool:
        """True if the key is new or was used with the same body; False on a conflicting reuse."""
        stored = self._keys.get((client_id, key))
        if stored is None or not self._fresh(stored.stored_at):
            return True
        return stored.fingerprint == fingerprint

    def remember_key(self, client_id: str, key: str, fingerprint: str) -> None:
        """Records the body fingerprint a key was first used with."""
        self._keys[(client_id, key)] = KeyedRequest(fingerprint, time.monotonic())
        self._keys.move_to_end((client_id, key))
        while len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)
