"""The one polling helper of the tests: wait, bounded, until a condition holds."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    timeout_s: float = ...,
    *,
    every_s: float = ...,
    what: str = ...,
    context: Callable[[], str] = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    timeout_s: float = ...,
    *,
    every_s: float = ...,
    what: str = ...,
    context: Callable[[], str] = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    timeout_s: float = 30.0,
    *,
    every_s: float = 0.1,
    what: str = "condition",
    context: Callable[[], str] = lambda: "",
) -> Any:
    """Polls `check` (sync or async) until it returns something truthy, and returns that.

    Fails after `timeout_s` with the last value seen and `context()` (what the caller wants to
    show about the state it waited on).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result: Any = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            detail = context()
            raise AssertionError(
                f"{what} not met within {timeout_s:.0f}s (last: {result!r})"
                + (f"\n{detail}" if detail else "")
            )
        await asyncio.sleep(every_s)
