"""The sender: claims due invitations and reminders, sends them, records each outcome.

Each message's outcome is recorded as soon as it is sent, in its own transaction, so what a
kill can leave sent but unrecorded is bounded by the messages in flight (`send_concurrency`).

Every tick it also emits the answers whose edit window has closed (feedloop.solicit.answers).
Consent is checked again just before sending: a customer who opted out or was erased after
the invitation was scheduled gets nothing, and the skip says why.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from feedloop.common.events import utcnow
from feedloop.common.links import LinkSigner
from feedloop.common.loops import WakeableLoop
from feedloop.solicit import answers
from feedloop.solicit.channels import Channel, SendFailed
from feedloop.solicit.compose import Claimed, compose
from feedloop.solicit.customers import blocks_of
from feedloop.solicit.programs import Program, ProgramsConfig
from feedloop.solicit.queue import Outcome, backoff_s, claim, record
from feedloop.solicit.settings import SolicitSettings
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "feedloop_solicit_messages_total",
    "Invitations and reminders by channel and result",
    ["kind", "channel", "result"],
)


class Sender(WakeableLoop):
    """Runs the send loop as a background task.

    `stop()` leaves claimed rows not recorded to be retried after their lease.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: SolicitSettings,
        config: ProgramsConfig,
        signer: LinkSigner,
        channels: Mapping[str, Channel],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.config = config
        self.signer = signer
        self.channels = channels
        self.on_commit = on_commit
        super().__init__(task_name="solicit-sender")
        self._limit = asyncio.Semaphore(settings.send_concurrency)

    async def _run(self) -> None:
        while True:
            try:
                while await self.run_once(utcnow()) == self.settings.send_batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("solicit sender tick failed; retrying")
            await self._wait_for_wake(self.settings.send_poll_s)

    async def run_once(self, now: datetime) -> int:
        """One tick: emits settled answers, then claims, sends and records one batch."""
        if await answers.emit_settled(engine=self.engine, settings=self.settings, now=now):
            self.on_commit()
        async with self.engine.begin() as conn:
            claimed = await claim(
                conn, now=now, limit=self.settings.send_batch, lease_s=self.settings.lease_s
            )
            blocks = await blocks_of(conn, {c.customer_id for c in claimed})
        await asyncio.gather(*(self._settle(c, blocks.get(c.customer_id), now) for c in claimed))
        return len(claimed)

    async def _settle(self, claimed: Claimed, blocked: str | None, now: datetime) -> None:
        # Sent and recorded under one slot: a sender killed mid-batch leaves at most
        # `send_concurrency` messages sent but not recorded (sent again, under their key).
        async with self._limit:
            outcome = await self._one(claimed, blocked, now)
            async with self.engine.begin() as conn:
                await record(conn, outcome, now=utcnow(), retry_at=self._retry_at(outcome))

    def _retry_at(self, outcome: Outcome) -> datetime:
        wait = backoff_s(
            outcome.claimed.attempts,
            base_s=self.settings.backoff_base_s,
            max_s=self.settings.backoff_max_s,
        )
        return utcnow() + timedelta(seconds=wait)

    async def _one(self, claimed: Claimed, blocked: str | None, now: datetime) -> Outcome:
        program = self.config.by_id(claimed.program_id)
        reason = unsendable(claimed, program, blocked=blocked, now=now)
        if reason is not None or program is None:
            MESSAGES.labels(claimed.kind, claimed.channel, "skipped").inc()
            return Outcome(claimed, "skipped", reason or "program_off")
        message = compose(
            claimed, program, base=str(self.settings.public_base_url), signer=self.signer, now=now
        )
        try:
            await self.channels[claimed.channel].send(message)
        except SendFailed as exc:
            final = exc.permanent or claimed.attempts >= self.settings.max_attempts
            MESSAGES.labels(claimed.kind, claimed.channel, "failed" if final else "retry").inc()
            log.warning("survey message not sent: %s", exc, extra={"invitation": claimed.id})
            return Outcome(claimed, "failed" if final else "retry", str(exc))
        MESSAGES.labels(claimed.kind, claimed.channel, "sent").inc()
        return Outcome(claimed, "sent", reminder_after_s=program.reminder_after_s)


def unsendable(
    claimed: Claimed, program: Program | None, *, blocked: str | None, now: datetime
) -> str | None:
    """Why a claimed message must not go out (the skip's reason), or None."""
    if blocked is not None:
        return blocked
    if program is None or not program.enabled:
        return "program_off"
    if claimed.kind == "survey.invitation" and now - claimed.due_at > timedelta(
        seconds=program.window_s
    ):
        return "too_old"
    if now >= claimed.expires_at:
        return "expired"
    return None
