"""The sender: claims due deliveries, sends them concurrently, records each result.

Claiming stops while `send_concurrency` attempts are in flight. Results are recorded in small
batches as they arrive, so one slow receiver holds up nobody else's bookkeeping. On shutdown
in-flight attempts get `stop_grace_s` to finish and be recorded; the rest are retried by
whichever sender finds their lease expired.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from feedloop.common.events import utcnow
from feedloop.notify import metrics, queue
from feedloop.notify.channels import Outgoing, SendResult
from feedloop.notify.render import MessageContext, Rendered, Renderer
from feedloop.notify.settings import NotifySettings
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


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
        self._results: asyncio.Queue[tuple[Outgoing, SendResult]] = asyncio.Queue()
        self._claimer: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._depth_at = 0.0

    def wake(self) -> None:
        """Asks the sender to look for due deliveries now."""
        self._wake.set()

    def start(self) -> None:
        """Starts claiming and recording as background tasks."""
        self._recorder = asyncio.create_task(self._record_loop(), name="notify-recorder")
        self._claimer = asyncio.create_task(self._claim_loop(), name="notify-claimer")

    async def stop(self) -> None:
        """Stops claiming, lets in-flight attempts finish and be recorded, within the grace."""
        await _cancel(self._claimer)
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self.settings.stop_grace_s)
        for task in list(self._inflight):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._results.join(), max(1.0, self.settings.stop_grace_s))
        await _cancel(self._recorder)

    async def _claim_loop(self) -> None:
        failures = 0
        while True:
            free = self.settings.send_concurrency - len(self._inflight)
            if free > 0:
                try:
                    claimed = await queue.claim(
                        self.engine, limit=free, settings=self.settings, now=utcnow()
                    )
                    failures = 0
                    self.healthy = True
                except Exception:
                    failures += 1
                    self.healthy = failures < 5
                    log.exception("claiming deliveries failed; retrying")
                    await asyncio.sleep(min(10.0, 0.2 * 2**failures))
                    continue
                for outcome, n in claimed.suppressed.items():
                    if outcome == "failed":
                        metrics.FAILED.labels("unknown").inc(n)
                    else:
                        metrics.SUPPRESSED.labels(outcome).inc(n)
                if claimed.suppressed:
                    self.on_commit()
                for item in claimed.outgoing:
                    task = asyncio.create_task(self._attempt(item))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if len(claimed.outgoing) == free:
                    continue  # more may be due: claim again once slots free up
            await self._observe_depth()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.send_poll_s)
            self._wake.clear()

    async def _attempt(self, item: Outgoing) -> None:
        try:
            result = await self.send_one(item)
        except Exception as exc:  # a template or programming error: fail this one, loudly
            log.exception("delivery attempt crashed", extra={"delivery_id": item.delivery_id})
            result = SendResult("retry", f"{type(exc).__name__}: {exc}"[:500])
        await self._results.put((item, result))

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
            await self._record(batch)
            for _ in batch:
                self._results.task_done()
            self.on_commit()
            self._wake.set()  # slots are free again

    async def _record(self, batch: list[tuple[Outgoing, SendResult]]) -> None:
        failures = 0
        while True:
            try:
                outcome = await queue.record(
                    self.engine, batch, settings=self.settings, now=utcnow()
                )
                break
            except Exception:
                # Unrecorded results are not lost: their leases expire and they are retried.
                failures += 1
                log.exception("recording delivery results failed; retrying")
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
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
