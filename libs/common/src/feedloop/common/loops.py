"""A background loop that runs as one task until stopped and can be woken early.

The outbox relay (outbox.OutboxRelay) and solicit's sender share it: `start()` runs the
subclass's `_run()` as a named task, `wake()` cuts its current wait short (after a commit),
`stop()` cancels it and waits for it to end.
"""

import asyncio
import contextlib


async def wait_for_wake(wake: asyncio.Event, timeout_s: float) -> None:
    """Waits until `wake` is set or `timeout_s` has passed, then clears it.

    Raises CancelledError when the task was cancelled but its last round swallowed the
    cancellation (a library call that catches it, or Python 3.11's `wait_for` when the wake-up
    and the cancel arrive together): otherwise a loop that is being stopped would wait forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await wake.wait()
    wake.clear()


class WakeableLoop:
    """Base of a background loop: start, wake, stop; the subclass writes `_run`."""

    def __init__(self, *, task_name: str) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._task_name = task_name

    def wake(self) -> None:
        """Asks the loop to look for work now (after a commit)."""
        self._wake.set()

    def start(self) -> None:
        """Runs the loop as a background task."""
        self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self) -> None:
        """Stops the loop; what it had not finished is left for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _wait_for_wake(self, timeout_s: float) -> None:
        """Waits until woken or `timeout_s` has passed, then clears the wake-up."""
        await wait_for_wake(self._wake, timeout_s)

    async def _run(self) -> None:
        raise NotImplementedError
