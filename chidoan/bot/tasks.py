"""Background tasks of the service, and waiting with a time limit.

Python 3.11's asyncio.wait_for swallows a cancellation that arrives just as what it waits for
finishes (fixed in 3.12): a loop stopped with `cancel` then goes on, and whoever stopped it waits
forever. On PostgreSQL, where NOTIFY wakes the loops often, stops hung so. `within` and `woken`
use asyncio.timeout, which passes the cancellation on; the service uses them, never wait_for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def cancel(task: asyncio.Task | None) -> None:
    """Cancel a background loop and wait until it has really ended; an error it ended with is
    raised here. Waited with asyncio.wait, not `await task`: a cancellation of the caller itself
    meanwhile must reach the caller, not be taken for the task's and swallowed (a leader stopped
    while stepping down went on leading, and its stop waited forever)."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.result()


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds` (what it awaited is cancelled)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
