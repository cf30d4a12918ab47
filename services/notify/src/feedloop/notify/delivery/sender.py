"""The sender: claims due deliveries, sends them concurrently, records each result.

At most `send_concurrency` attempts are in flight, and an attempt stays in flight until its
result is recorded: a crash can only repeat (under the same idempotency key) what was sent and
not yet recorded, so `send_concurrency` bounds those repeats even when recording lags. Up to as
many more claimed deliveries wait ready beside them, so a recorded attempt is followed at once
by the next one instead of by a claim; a ready delivery starts only while its lease outlasts a
whole attempt (otherwise it is given back). Results are recorded in batches as they arrive, so
one slow receiver holds up nobody else's bookkeeping; the transaction that records a batch also
claims the deliveries that take the freed slots (one write transaction instead of two, which on
SQLite's single writer halves the queueing that attempts wait on), and the outbox relay is woken
at most every `RELAY_WAKE_S` rather than after every batch. On shutdown the ready deliveries are
given back, in-flight attempts get `stop_grace_s` to finish and be recorded; the rest are retried by
whichever sender finds their lease expired.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from feedloop.common.events import utcnow
from feedloop.common.loops import wait_for_wake
from feedloop.notify import metrics
from feedloop.notify.delivery import queue
from feedloop.notify.delivery.channels import Outgoing, SendResult
from feedloop.notify.delivery.render import MessageContext, Rendered, Renderer
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

RELAY_WAKE_S = 0.05
"""Commits within this long of the last one wake the outbox relay once, after it."""


class Channel(Protocol):
    """Anything that can attempt one delivery."""

    async def send(self, item: Outgoing, rendered: Rendered) -> SendResult:
        """Attempts a delivery."""
        ...


class Sender:
    """Works the send queue in the background."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: NotifySettings,
        renderer: Renderer,
        channels: dict[str, Channel],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.renderer = renderer
        self.channels = channels
        self.on_commit = on_commit
        self.healthy = True
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        # Claimed, not yet attempted: (monotonic end of the lease, delivery).
        self._ready: deque[tuple[float, Outgoing]] = deque()
        self._expired: list[Outgoing] = []
        self._stopping = False
        self._longest_send_s = max(
            [settings.smtp_timeout_s, *(s.timeout_s for s in settings.webhooks.values())]
        )
        # Each result with the future its attempt waits on until the result is recorded.
        self._results: asyncio.Queue[tuple[Outgoing, SendResult, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._claimer: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._depth_at = 0.0
        self._committed_at = 0.0
        self._commit_wake: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        """Asks the sender to look for due deliveries now."""
        self._wake.set()

    def start(self) -> None:
        """Starts claiming and recording as background tasks."""
        self._recorder = asyncio.create_task(self._record_loop(), name="notify-recorder")
        self._claimer = asyncio.create_task(self._claim_loop(), name="notify-claimer")

    async def stop(self) -> None:
        """Stops claiming, lets in-flight attempts finish and be recorded, within the grace."""
        self._stopping = True
        await _cancel(self._claimer)
        if self._commit_wake is not None:
            self._commit_wake.cancel()
            self._commit_wake = None
            self.on_commit()
        unsent = self._expired + [item for _, item in self._ready]
        self._ready.clear()
        with contextlib.suppress(Exception):  # if not given back, their leases run out
            await queue.release(self.engine, unsent, now=utcnow())
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self.settings.stop_grace_s)
        for task in list(self._inflight):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._results.join(), max(1.0, self.settings.stop_grace_s))
        await _cancel(self._recorder)

    async def _claim_loop(self) -> None:
        failures = 0
        concurrency = self.settings.send_concurrency
        while True:
            room = self._room()
            # Claim in batches of at least half the concurrency, unless the senders starve.
            if room >= max(1, concurrency // 2) or (room > 0 and not self._ready):
                try:
                    if self._expired:
                        expired, self._expired = self._expired, []
                        await queue.release(self.engine, expired, now=utcnow())
                    # The lease runs from before the claim: a slow claim shortens it, never extends.
                    lease_end = time.monotonic() + self.settings.lease_s
                    claimed = await queue.claim(
                        self.engine, limit=room, settings=self.settings, now=utcnow()
                    )
                    failures = 0
                    self.healthy = True
                except Exception:
                    failures += 1
                    self.healthy = failures < 5
                    log.exception("claiming deliveries failed; retrying")
                    await asyncio.sleep(min(10.0, 0.2 * 2**failures))
                    continue
                self._took(claimed, lease_end)
                if len(claimed.outgoing) == room:
                    continue  # more may be due: claim again once there is room
            await self._observe_depth()
            await wait_for_wake(self._wake, self.settings.send_poll_s)

    def _took(self, claimed: queue.Claimed, lease_end: float) -> None:
        """Counts what a claim ended without sending, and readies what it leased."""
        for outcome, n in claimed.suppressed.items():
            if outcome == "failed":
                metrics.FAILED.labels("unknown").inc(n)
            else:
                metrics.SUPPRESSED.labels(outcome).inc(n)
        if claimed.suppressed:
            self._committed()
        self._ready.extend((lease_end, item) for item in claimed.outgoing)
        self._start_ready()

    def _room(self, *, finishing: int = 0) -> int:
        """How many more deliveries may be claimed (in flight and ready: twice the slots)."""
        if self._stopping:
            return 0
        held = len(self._inflight) - finishing + len(self._ready)
        return max(0, 2 * self.settings.send_concurrency - held)

    def _committed(self) -> None:
        """Wakes the outbox relay after a commit, at most once per RELAY_WAKE_S."""
        if self._commit_wake is not None:
            return  # a wake is already scheduled; it covers this commit
        wait = self._committed_at + RELAY_WAKE_S - time.monotonic()
        if wait <= 0:
            self._committed_at = time.monotonic()
            self.on_commit()
            return

        def wake() -> None:
            self._commit_wake = None
            self._committed_at = time.monotonic()
            self.on_commit()

        self._commit_wake = asyncio.get_running_loop().call_later(wait, wake)

    def _start_ready(self) -> None:
        """Starts ready deliveries while attempts may be added and their leases allow."""
        while self._ready and not self._stopping:
            if len(self._inflight) >= self.settings.send_concurrency:
                return
            lease_end, item = self._ready.popleft()
            if time.monotonic() + self._longest_send_s >= lease_end:
                # It could outlive its lease and race a retry of itself: give it back instead.
                self._expired.append(item)
                self._wake.set()
                continue
            task = asyncio.create_task(self._attempt(item))
            self._inflight.add(task)
            task.add_done_callback(self._attempted)

    def _attempted(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._start_ready()
        self._wake.set()  # there may be room to claim

    async def _attempt(self, item: Outgoing) -> None:
        try:
            result = await self.send_one(item)
        except Exception as exc:  # a template or programming error: fail this one, loudly
            log.exception("delivery attempt crashed", extra={"delivery_id": item.delivery_id})
            result = SendResult("retry", f"{type(exc).__name__}: {exc}"[:500])
        recorded = asyncio.get_running_loop().create_future()
        await self._results.put((item, result, recorded))
        # Holds the slot until the result is durable (or abandoned on shutdown, when the lease's
        # expiry retries it).
        await recorded

    async def send_one(self, item: Outgoing) -> SendResult:
        """Renders and sends one claimed delivery."""
        channel = self.channels.get(item.channel)
        if channel is None:
            return SendResult("permanent", f"channel {item.channel!r} is not configured")
        context = MessageContext(
            kind=item.kind,
            customer_id=item.customer_id,
            issue_id=item.issue_id,
            resolution_message=item.message,
            feedback=item.feedback,
        )
        rendered = self.renderer.render(item.channel, context, item.locale)
        return await channel.send(item, rendered)

    async def _record_loop(self) -> None:
        while True:
            batch = [await self._results.get()]
            while not self._results.empty() and len(batch) < 500:
                batch.append(self._results.get_nowait())
            try:
                claimed, lease_end = await self._record([(item, res) for item, res, _ in batch])
            finally:
                for _, _, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)
                    self._results.task_done()
            self._committed()
            self._took(claimed, lease_end)

    async def _record(
        self, batch: list[tuple[Outgoing, SendResult]]
    ) -> tuple[queue.Claimed, float]:
        """Records results (retrying until it succeeds) and claims what takes their slots."""
        failures = 0
        while True:
            try:
                lease_end = time.monotonic() + self.settings.lease_s
                outcome, claimed = await queue.record_and_claim(
                    self.engine,
                    batch,
                    # These attempts end with this commit, so their slots count as free.
                    claim_limit=self._room(finishing=len(batch)),
                    settings=self.settings,
                    now=utcnow(),
                )
                break
            except Exception:
                # Unrecorded results are not lost: their leases expire and they are retried.
                failures += 1
                log.exception("recording delivery results failed; retrying")
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
        self._count(batch, outcome)
        return claimed, lease_end

    def _count(self, batch: list[tuple[Outgoing, SendResult]], outcome: queue.Verdicts) -> None:
        """Metrics and logs of recorded results."""
        now = utcnow()
        for item, _ in outcome["delivered"]:
            metrics.SENT.labels(item.channel, item.kind).inc()
            metrics.TIME_TO_DELIVER.labels(item.channel).observe(
                max(0.0, (now - item.created_at).total_seconds())
            )
        for item, result in outcome["retry"]:
            metrics.RETRIED.labels(item.channel).inc()
            log.info(
                "delivery attempt failed; retrying later",
                extra={
                    "delivery_id": item.delivery_id,
                    "attempt": item.attempts,
                    "error": result.error,
                },
            )
        for item, result in outcome["failed"]:
            metrics.FAILED.labels(item.channel).inc()
            log.warning(
                "delivery failed for good; dead-lettered",
                extra={
                    "delivery_id": item.delivery_id,
                    "attempts": item.attempts,
                    "error": result.error,
                },
            )
        metrics.STALE.inc(len(outcome["stale"]))
        for item, result in batch:
            if result.duration_s:
                metrics.ATTEMPT_SECONDS.labels(item.channel).observe(result.duration_s)

    async def _observe_depth(self) -> None:
        if time.monotonic() - self._depth_at < 5.0:
            return
        self._depth_at = time.monotonic()
        with contextlib.suppress(Exception):
            metrics.QUEUE_DEPTH.set(await queue.depth(self.engine))


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
