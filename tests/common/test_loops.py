"""WakeableLoop: stop() ends the loop even when a round swallowed the cancellation."""

import asyncio
import contextlib

from feedloop.common.loops import WakeableLoop


class SwallowingLoop(WakeableLoop):
    """Each round, after a wake-up, awaits something that eats a CancelledError (as some
    library calls do) before going back to wait."""

    def __init__(self) -> None:
        super().__init__(task_name="swallowing")
        self.rounds = 0
        self.in_round = asyncio.Event()

    async def _run(self) -> None:
        while True:
            await self._wait_for_wake(3600)
            self.rounds += 1
            self.in_round.set()
            with contextlib.suppress(asyncio.CancelledError):  # swallowed: the loop goes on
                await asyncio.sleep(3600)


async def stops_within(loop: WakeableLoop, seconds: float) -> bool:
    """Whether loop.stop() returns within `seconds`."""
    stopping = asyncio.create_task(loop.stop())
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    return stopping in done


async def test_stop_ends_a_loop_whose_round_swallowed_the_cancellation() -> None:
    loop = SwallowingLoop()
    loop.start()
    loop.wake()
    await asyncio.wait_for(loop.in_round.wait(), 5)
    assert await stops_within(loop, 5), "stop() hung: the loop went back to waiting"
    assert loop.rounds == 1


async def test_a_wake_up_cuts_the_wait_short_and_is_used_up() -> None:
    loop = SwallowingLoop()
    loop.start()
    await asyncio.sleep(0.05)
    assert loop.rounds == 0  # waits for a wake-up (3600 s otherwise)
    loop.wake()
    await asyncio.wait_for(loop.in_round.wait(), 5)
    assert loop.rounds == 1
    loop.in_round.clear()
    await asyncio.sleep(0.05)
    assert loop.rounds == 1  # the wake-up was used up: it waits again
    assert await stops_within(loop, 5)
