"""Claims on feedback ids shared by every ingest worker and replica.

Each ingest process remembers the ids it accepted (feedback.ingest.idempotency) and coalesces
retries that reach it while an attempt is in flight. Two processes do not see each other's
memory, so a client retrying on a second worker (or a second pod) while the first is still
producing would produce the item twice. With several workers, each process therefore also
claims its fresh ids in one shared table before producing them:

- a row per id: who holds it (a token per claim), whether it was acknowledged, and when;
- an insert that skips existing ids, then one read of the rows, in one transaction; the rows
  carrying this claim's token are ours to produce;
- an acknowledged row younger than the TTL is a duplicate; an unacknowledged row younger than
  the lease is another process producing it right now: wait for it; an older row is taken over
  by compare-and-set (its holder died or its acknowledgement is past the TTL);
- after producing, acknowledged ids are marked done and failed ones deleted, so a retry claims
  them again.

The lease outlives the producer's bounded send (`produce_timeout_s`), so a live holder is never
taken over; if one were, both records carry the same deterministic event id and every consumer
drops the second.

The table is small and rebuildable (a cache, not a record): `create_all` makes it, and it holds
only ids (a hash of source system and external id), a random token, a flag and a time. Rows
leave after the TTL (`prune`), and a customer's erasure deletes their ids (`forget`).
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from fastapi import FastAPI
from feedloop.common.codec import OutgoingRecord
from feedloop.common.db import create_engine, insert_ignoring_conflicts
from feedloop.common.shell import Step, task_step
from sqlalchemy import Boolean, Column, Float, MetaData, String, Table, delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from feedloop.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
Outcome = Literal["accepted", "duplicate", "unavailable"]
T = TypeVar("T")
R = TypeVar("R")

_METADATA = MetaData()
CLAIMS = Table(
    "ingest_claims",
    _METADATA,
    Column("feedback_id", String(64), primary_key=True),
    Column("owner", String(32), nullable=False),
    Column("done", Boolean, nullable=False),
    Column("at", Float, nullable=False, index=True),
)
_IN_CHUNK = 500
"""Ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits."""


@dataclass(frozen=True)
class Claim:
    """What one claim found: ids this process now holds, ids done elsewhere, ids in flight."""

    token: str
    claimed: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


class Settle(NamedTuple):
    """What became of one claim's ids."""

    token: str
    accepted: list[str]
    failed: list[str]


async def _settle_one(conn: AsyncConnection, settle: Settle, *, at: float) -> None:
    for chunk in _chunks(settle.accepted):
        await conn.execute(
            update(CLAIMS)
            .where(CLAIMS.c.feedback_id.in_(chunk), CLAIMS.c.owner == settle.token)
            .values(done=True, at=at)
        )
    for chunk in _chunks(settle.failed):
        await conn.execute(
            delete(CLAIMS).where(CLAIMS.c.feedback_id.in_(chunk), CLAIMS.c.owner == settle.token)
        )


class Coalescer(Generic[T, R]):
    """Serves concurrent calls in waves: one `run(all queued)` at a time, results handed back.

    At low load a call runs at once, alone; under load, whoever queued while a wave ran goes
    in the next one together (group commit), so no call waits for a timer.
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._run = run
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        # Held while it runs: the event loop keeps only a weak reference to a task.
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, item: T) -> R:
        """Queues one call and waits for its wave's result (or its wave's error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                wave, self._queue = self._queue, []
                try:
                    results = await self._run([item for item, _ in wave])
                except Exception as error:
                    for _, future in wave:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(wave, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._drainer = None


class SharedClaims:
    """The shared claim table: SQLite for the workers of one host, PostgreSQL across pods."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lease_s: float,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.lease_s = lease_s
        self.ttl_s = ttl_s
        self.clock = clock
        self._waves: Coalescer[list[str] | Settle, Claim | None] = Coalescer(self._wave)
        self._settling: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, *, lease_s: float, ttl_s: float) -> "SharedClaims":
        """A store on its own small engine (timeouts as the stateful stages use)."""
        return cls(create_engine(url, pool_size=4), lease_s=lease_s, ttl_s=ttl_s)

    async def create(self) -> None:
        """Creates the table if it is missing (every worker may call it at start)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_METADATA.create_all, checkfirst=True)

    async def close(self) -> None:
        """Records the outcomes still being settled, then closes the engine's connections."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        await self.engine.dispose()

    async def claim(self, ids: list[str]) -> Claim:
        """Claims the ids not held elsewhere; says which are done or in flight elsewhere.

        Concurrent callers share one transaction (the next one gathers whoever queued while
        the last ran, and the outcomes settled meanwhile), so a process pays a round trip per
        wave of requests, not per request.
        """
        claim = await self._waves.run(ids)
        assert claim is not None
        return claim

    async def _wave(self, ops: list[list[str] | Settle]) -> list[Claim | None]:
        groups = [op for op in ops if not isinstance(op, Settle)]
        async with self.engine.begin() as conn:
            for op in ops:
                if isinstance(op, Settle):
                    await _settle_one(conn, op, at=self.clock())
            claims = iter(await self._claim_groups(conn, groups) if groups else [])
        return [None if isinstance(op, Settle) else next(claims) for op in ops]

    async def _claim_groups(self, conn: AsyncConnection, groups: list[list[str]]) -> list[Claim]:
        claim = await self._claim_all(conn, list(dict.fromkeys(i for ids in groups for i in ids)))
        unassigned, done = set(claim.claimed), set(claim.done)
        split = []
        for ids in groups:
            # An id two callers of one wave ask for goes to the first; the second waits for it.
            mine = [i for i in ids if i in unassigned]
            unassigned.difference_update(mine)
            split.append(
                Claim(
                    token=claim.token,
                    claimed=mine,
                    done=[i for i in ids if i in done],
                    busy=[i for i in ids if i not in done and i not in mine],
                )
            )
        return split

    async def _claim_all(self, conn: AsyncConnection, ids: list[str]) -> Claim:
        claim = Claim(token=uuid.uuid4().hex)
        if not ids:
            return claim
        now = self.clock()
        rows = [{"feedback_id": i, "owner": claim.token, "done": False, "at": now} for i in ids]
        await insert_ignoring_conflicts(conn, CLAIMS, rows)
        for chunk in _chunks(ids):
            held = await conn.execute(
                select(CLAIMS.c.feedback_id, CLAIMS.c.owner, CLAIMS.c.done, CLAIMS.c.at).where(
                    CLAIMS.c.feedback_id.in_(chunk)
                )
            )
            for feedback_id, owner, done, at in held.all():
                await self._sort(conn, claim, now, feedback_id, owner, done=done, at=at)
        return claim

    async def _sort(
        self,
        conn: AsyncConnection,
        claim: Claim,
        now: float,
        feedback_id: str,
        owner: str,
        *,
        done: bool,
        at: float,
    ) -> None:
        if owner == claim.token:
            claim.claimed.append(feedback_id)
        elif done and now - at < self.ttl_s:
            claim.done.append(feedback_id)
        elif not done and now - at < self.lease_s:
            claim.busy.append(feedback_id)
        elif await self._take_over(conn, feedback_id, owner=owner, at=at, token=claim.token):
            claim.claimed.append(feedback_id)
        else:
            claim.busy.append(feedback_id)

    async def _take_over(
        self, conn: AsyncConnection, feedback_id: str, *, owner: str, at: float, token: str
    ) -> bool:
        taken = await conn.execute(
            update(CLAIMS)
            .where(CLAIMS.c.feedback_id == feedback_id, CLAIMS.c.owner == owner, CLAIMS.c.at == at)
            .values(owner=token, done=False, at=self.clock())
        )
        return bool(taken.rowcount == 1)

    async def settle(self, token: str, *, accepted: list[str], failed: list[str]) -> None:
        """Marks a claim's acknowledged ids done and frees its failed ones for a retry."""
        if accepted or failed:
            await self._waves.run(Settle(token, accepted, failed))

    def settle_soon(self, token: str, *, accepted: list[str], failed: list[str]) -> None:
        """`settle` in the next wave, without holding the request: a retry elsewhere meanwhile
        finds the ids in flight and waits for them; close() waits for what is pending."""
        task = asyncio.get_running_loop().create_task(
            self.settle(token, accepted=accepted, failed=failed)
        )
        self._settling.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: "asyncio.Task[None]") -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("settling shared claims failed (leases free them): %s", task.exception())

    async def wait(self, ids: list[str], *, poll_s: float = 0.02) -> tuple[list[str], list[str]]:
        """Waits, at most one lease, for ids in flight elsewhere: (done, to retry ourselves)."""
        pending = list(ids)
        done: list[str] = []
        deadline = self.clock() + self.lease_s
        while pending and self.clock() < deadline:
            await asyncio.sleep(poll_s)
            poll_s = min(poll_s * 2, 0.25)
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    select(CLAIMS.c.feedback_id, CLAIMS.c.done).where(
                        CLAIMS.c.feedback_id.in_(pending)
                    )
                )
                state: dict[str, bool] = dict(rows.all())
            done += [i for i in pending if state.get(i) is True]
            # A vanished row failed elsewhere: this request may produce it itself.
            freed = [i for i in pending if i not in state]
            if freed:
                return done, freed + [i for i in pending if state.get(i) is False]
            pending = [i for i in pending if state.get(i) is False]
        return done, pending

    async def forget(self, ids: list[str]) -> int:
        """Deletes ids (a customer's erasure); returns how many rows went."""
        gone = 0
        async with self.engine.begin() as conn:
            for chunk in _chunks(ids):
                result = await conn.execute(delete(CLAIMS).where(CLAIMS.c.feedback_id.in_(chunk)))
                gone += int(result.rowcount or 0)
        return gone

    async def prune(self) -> int:
        """Deletes rows past the TTL (acknowledged) or long past the lease (abandoned)."""
        now = self.clock()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(CLAIMS).where(
                    (CLAIMS.c.done & (CLAIMS.c.at < now - self.ttl_s))
                    | (~CLAIMS.c.done & (CLAIMS.c.at < now - 10 * self.lease_s))
                )
            )
        return int(result.rowcount or 0)


class Claimable(Protocol):
    """An item ready to produce: its index in the request, its id and its record."""

    @property
    def index(self) -> int: ...

    @property
    def feedback_id(self) -> str: ...

    @property
    def record(self) -> OutgoingRecord: ...


Send = Callable[[list[OutgoingRecord]], Awaitable[Sequence[BaseException | None]]]


async def produce_shared(
    claims: SharedClaims, send: Send, items: Sequence[Claimable], *, rounds: int = 2
) -> dict[int, Outcome]:
    """Produces the items no other process holds; waits for those another is producing.

    Ids done elsewhere are duplicates. Ids still in flight elsewhere after `rounds` waits, and
    every item when the claim table cannot be reached, are 'unavailable' (the client retries).
    """
    outcomes: dict[int, Outcome] = {}
    pending = {p.feedback_id: p for p in items}
    try:
        for _ in range(rounds):
            claim = await claims.claim(list(pending))
            outcomes |= {pending[i].index: "duplicate" for i in claim.done}
            outcomes |= await _produce_claimed(claims, send, claim, pending)
            if not claim.busy:
                return outcomes
            done, retry = await claims.wait(claim.busy)
            outcomes |= {pending[i].index: "duplicate" for i in done}
            pending = {i: pending[i] for i in retry}
            if not pending:
                return outcomes
    except (SQLAlchemyError, OSError) as error:
        log.warning("shared claims unreachable: %s", error)
    return outcomes | {p.index: "unavailable" for p in items if p.index not in outcomes}


async def _produce_claimed(
    claims: SharedClaims, send: Send, claim: Claim, pending: dict[str, Claimable]
) -> dict[int, Outcome]:
    mine = [pending[i] for i in claim.claimed]
    if not mine:
        return {}
    errors = await send([p.record for p in mine])
    outcomes: dict[int, Outcome] = {}
    accepted: list[str] = []
    failed: list[str] = []
    for p, error in zip(mine, errors, strict=True):
        outcomes[p.index] = "accepted" if error is None else "unavailable"
        (accepted if error is None else failed).append(p.feedback_id)
    claims.settle_soon(claim.token, accepted=accepted, failed=failed)
    return outcomes


def shared_claims(settings: "IngestSettings") -> SharedClaims | None:
    """The shared claims the settings name, or None for a single process."""
    if not settings.claims_url:
        return None
    return SharedClaims.from_url(
        settings.claims_url, lease_s=settings.claims_lease_s, ttl_s=settings.idempotency_ttl_s
    )


async def prune_forever(claims: SharedClaims, *, every_s: float) -> None:
    """Prunes the table every `every_s` for the app's life (a failure waits for the next)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            pruned = await claims.prune()
        except (SQLAlchemyError, OSError) as error:
            log.warning("pruning shared claims failed: %s", error)
        else:
            log.info("shared claims pruned", extra={"rows": pruned})


def claims_steps(claims: SharedClaims, *, prune_every_s: float) -> list[Step]:
    """Lifespan steps: create the table (close the engine last), then prune it for good."""

    async def create(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        del app
        stack.push_async_callback(claims.close)
        await claims.create()

    def prune() -> Coroutine[Any, Any, None]:
        return prune_forever(claims, every_s=prune_every_s)

    return [create, task_step("ingest-claims-prune", prune)]
