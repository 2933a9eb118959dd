"""Waiting with a time limit (bot/tasks.py): a loop cancelled at the moment it is woken stops.
Python 3.11's asyncio.wait_for swallowed that cancellation, and the App's stop waited forever
for the loop (seen on PostgreSQL, whose NOTIFY wakes the loops often)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from chidoan.bot.tasks import cancel, within, woken

ROOT = Path(__file__).resolve().parent.parent


async def rounds_until_cancelled(wait) -> tuple[asyncio.Task, list[int]]:
    """A loop like the service's pollers, woken at the very moment it is cancelled."""
    event = asyncio.Event()
    rounds: list[int] = []

    async def loop() -> None:
        while True:
            await wait(event)
            event.clear()
            rounds.append(1)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)  # it waits
    event.set()
    await asyncio.sleep(0)  # what it waited for is done, its waiter not yet resumed
    task.cancel()
    return task, rounds


async def test_a_loop_cancelled_as_it_is_woken_stops_with_woken():
    task, _ = await rounds_until_cancelled(lambda event: woken(event, 10))
    await within(cancel(task), 2)
    assert task.cancelled()


async def test_wait_for_would_have_kept_it_running():
    """The flaw itself, on the Python this runs on (3.12 fixed it): shows the test above can fail."""
    import sys

    task, rounds = await rounds_until_cancelled(lambda event: asyncio.wait_for(event.wait(), 10))
    await asyncio.sleep(0.05)
    if sys.version_info < (3, 12):
        assert not task.done() and rounds == [1]  # the cancellation was lost: the loop goes on
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_caller_cancelled_while_it_cancels_a_task_is_cancelled_too():
    """`cancel(x)` inside a loop stopped meanwhile: the stop reaches the loop (a leader stopped
    while stepping down went on leading)."""

    async def ends_slowly() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.2)  # a service that takes a moment to stop

    slow_to_end = asyncio.create_task(ends_slowly())
    await asyncio.sleep(0)

    async def stepping_down() -> None:
        await cancel(slow_to_end)
        await asyncio.sleep(3600)  # leading again

    caller = asyncio.create_task(stepping_down())
    await asyncio.sleep(0.01)  # inside cancel(slow_to_end)
    caller.cancel()
    await within(asyncio.wait({caller}), 2)
    assert caller.cancelled()


async def test_cancel_raises_what_the_task_ended_with():
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise ValueError("cleaning up failed")

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(ValueError):
        await cancel(task)


async def test_within_gives_the_result_or_a_timeout():
    assert await within(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(5), 0.01)


def test_the_service_never_uses_wait_for():
    uses = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "chidoan").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwait_for\(", line)
    ]
    assert uses == [], "use chidoan.bot.tasks.within or woken"
