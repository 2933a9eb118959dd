"""The periodic sweeps over the database, on APScheduler with the service's time zone, each run
once just after start too, in the background (what fell due while the service was down is
caught up without holding up the start):

- the follow-up of commitments, daily at 08:00 (handlers/commitments.py);
- the reminders and the districts' digests, every 10 minutes (chidoan/reminders);
- the prune of expired events, messages and conversations, nightly at 03:00 (bot/retention.py).

Only the leader runs them (bot/leader.py). Both are idempotent (unique keys) anyway, so a
repeated run, a restart or a new leader's catch-up sends nothing twice. A reminder sweep works in chunks of units, one short transaction each, so
the replies of people who are typing are not held up behind it; by default it runs in a child
process, so its Python work does not compete with them either (reminders/run.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from chidoan.bot.processor import Processor
from chidoan.bot.retention import prune
from chidoan.bot.tasks import cancel
from chidoan.engine.notices import Window
from chidoan.handlers.commitments import ask_due
from chidoan.reminders.obligations import Calendar
from chidoan.reminders.run import child_chunk, child_started, store_digests, sweep_step
from chidoan.reminders.sweep import Season, store, within_hours

log = logging.getLogger(__name__)
STORE = 100  # reminders a transaction on the database thread: 2-3 ms (50: as slow a sweep, no better replies)
THREAD_CHUNK = 100  # units a transaction when the whole sweep runs on the database thread (~5 ms)


class Sweeps:
    def __init__(self, processor: Processor, settings):
        self.processor = processor
        self.settings = settings
        self.scheduler = AsyncIOScheduler(timezone=settings.tz)
        self._pool: ProcessPoolExecutor | None = None
        self._one_at_a_time = asyncio.Lock()
        self._catch_up: asyncio.Task | None = None
        self.queued: list[Callable[[Counter[str]], None]] = []  # told each sweep's reminders per stage

    def _wake_sender(self) -> None:
        for wake in self.processor.committed:
            wake()

    async def follow_ups(self) -> int:
        now = self.processor.clock()
        window = Window.of(self.settings)
        asked = await self.processor.run(lambda uow: ask_due(uow, now, self.settings.tz, window))
        if asked:
            log.info("asked about %d commitment(s)", asked)
            self._wake_sender()
        return asked

    async def prune(self) -> dict[str, int]:
        return await prune(self.processor.run, self.settings, self.processor.clock())

    async def reminders(self, at: datetime | None = None, *, dry_run: bool = False) -> Season:
        """One reminder sweep at `at` (now by default): makes what is due, and the digests. Its
        reading and composing run in a child process (CHIDOAN_SWEEP_PROCESS, the default; see
        reminders/run.py), which reports only how many messages were queued; else on the
        database thread in chunks, keeping what it found (the preview and the tests read it)."""
        at = at or self.processor.clock()
        season = Season()
        if within_hours(self.settings.allowed_hours, at, self.settings.tz):
            async with self._one_at_a_time:  # the start's catch-up and a tick of the clock may meet
                if self.settings.sweep_process and not dry_run:
                    season.created = await self._in_child(at, season.stages)
                else:
                    await self._in_thread(at, season, dry_run)
        if season.created:
            log.info("reminders: %d queued", season.created)
            self._wake_sender()
            if not dry_run:
                for callback in self.queued:
                    callback(season.stages)
        return season

    async def _in_child(self, at: datetime, stages: Counter[str]) -> int:
        """The child composes chunk after chunk while this process stores the previous one. A
        child that died (killed, out of memory) is replaced, and the sweep run once more."""
        try:
            return await self._child_sweep(at, stages)
        except BrokenProcessPool:
            log.error("the reminder sweep's child process died: starting a new one")
            self._pool = None
            return await self._child_sweep(at, stages)

    async def _child_sweep(self, at: datetime, stages: Counter[str]) -> int:
        if self._pool is None:  # spawned, not forked: this process has threads and an event loop
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=child_started
            )
        loop = asyncio.get_running_loop()
        created = 0
        next_chunk = loop.run_in_executor(self._pool, child_chunk, self.settings, at, 0)
        try:
            while True:
                batch, after = await next_chunk
                if after is not None:
                    next_chunk = loop.run_in_executor(self._pool, child_chunk, self.settings, at, after)
                for start in range(0, len(batch), STORE):
                    created += await self.processor.run(
                        partial(store, batch=batch[start : start + STORE], stages=stages)
                    )
                if after is None:
                    return created
        finally:
            # Storing failed (the database gone) while the child composed the next chunk: that
            # chunk is dropped, and its own failure (the same database) is not left unretrieved.
            next_chunk.cancel()
            next_chunk.add_done_callback(_dropped)

    async def _in_thread(self, at: datetime, season: Season, dry_run: bool) -> None:
        window = Window.of(self.settings)
        cal = await self.processor.run(lambda uow: Calendar.load(uow, self.settings))
        after: int | None = 0
        while after is not None:
            step = partial(
                sweep_step,
                cal=cal,
                at=at,
                window=window,
                season=season,
                after_id=after,
                dry_run=dry_run,
                limit=THREAD_CHUNK,
            )
            after = await self.processor.run(step)
        if not dry_run:
            await self.processor.run(partial(store_digests, cal=cal, at=at, window=window, season=season))

    async def start(self) -> None:
        tz = self.settings.tz
        self.scheduler = AsyncIOScheduler(timezone=tz)  # anew: a leader may start them again after a stop
        self.scheduler.add_job(self.follow_ups, CronTrigger(hour=8, timezone=tz), id="commitments", coalesce=True)
        self.scheduler.add_job(self.prune, CronTrigger(hour=3, timezone=tz), id="retention", coalesce=True)
        if self.settings.reminders:
            self.scheduler.add_job(
                self.reminders, CronTrigger(minute="*/10", timezone=tz), id="reminders", coalesce=True, max_instances=1
            )
        self.scheduler.start()
        # What fell due while the service was down, caught up without holding up the start.
        self._catch_up = asyncio.create_task(self._catch_up_once(), name="chidoan-catch-up")

    async def _catch_up_once(self) -> None:
        for sweep in (self.follow_ups, self.reminders) if self.settings.reminders else (self.follow_ups,):
            try:
                await sweep()
            except Exception:
                log.exception("the catch-up %s at start failed; the next scheduled one will try again", sweep.__name__)

    async def caught_up(self) -> None:
        """Wait for the start's catch-up (tests, and `stop`)."""
        if self._catch_up is not None:
            await asyncio.shield(self._catch_up)

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._catch_up is not None:
            await cancel(self._catch_up)
        if self._pool is not None:  # off the event loop: the child may be in the middle of a chunk
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def _dropped(chunk: asyncio.Future) -> None:
    if not chunk.cancelled() and chunk.exception() is not None:
        log.debug("a reminder chunk composed ahead was dropped, its sweep failed", exc_info=chunk.exception())
