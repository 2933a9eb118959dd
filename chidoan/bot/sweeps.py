"""The periodic sweeps over the database, on APScheduler with the service's time zone, each run
once at start too (what fell due while the service was down is caught up):

- the follow-up of commitments, daily at 08:00 (handlers/commitments.py);
- the reminders and the districts' digests, every 10 minutes (chidoan/reminders).

Both are idempotent (unique keys), so a repeated run, a restart or every worker running them
sends nothing twice. A reminder sweep works in chunks of units, one short transaction each, so
the replies of people who are typing are not held up behind it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from chidoan.bot.processor import Processor
from chidoan.engine.notices import Window
from chidoan.handlers.commitments import ask_due
from chidoan.handlers.registration import programmes
from chidoan.reminders.digest import write_digests
from chidoan.reminders.obligations import Calendar
from chidoan.reminders.policy import Policy, policy_of
from chidoan.reminders.sweep import Season, sweep_chunk, within_hours

log = logging.getLogger(__name__)


class Sweeps:
    def __init__(self, processor: Processor, settings, policy: Policy | None = None):
        self.processor = processor
        self.settings = settings
        self.policy = policy or policy_of(settings)
        self.scheduler = AsyncIOScheduler(timezone=settings.tz)

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

    async def reminders(self, at: datetime | None = None, *, dry_run: bool = False) -> Season:
        """One reminder sweep at `at` (now by default): makes what is due, and the digests."""
        at = at or self.processor.clock()
        season = Season()
        if not within_hours(self.settings.allowed_hours, at, self.settings.tz):
            return season
        window = Window.of(self.settings)
        cal = await self.processor.run(
            lambda uow: Calendar.load(uow, programmes(self.settings), self.policy, self.settings)
        )
        after: int | None = 0
        while after is not None:
            chunk = partial(sweep_chunk, cal=cal, at=at, window=window, season=season, after_id=after, dry_run=dry_run)
            after = await self.processor.run(chunk)
        if not dry_run:
            season.created += await self.processor.run(lambda uow: write_digests(uow, cal, season, at, window))
        if season.created:
            log.info("reminders: %d queued", season.created)
            self._wake_sender()
        return season

    async def start(self) -> None:
        tz = self.settings.tz
        self.scheduler.add_job(self.follow_ups, CronTrigger(hour=8, timezone=tz), id="commitments", coalesce=True)
        if self.settings.reminders:
            self.scheduler.add_job(
                self.reminders, CronTrigger(minute="*/10", timezone=tz), id="reminders", coalesce=True, max_instances=1
            )
        self.scheduler.start()
        await self.follow_ups()
        if self.settings.reminders:
            await self.reminders()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
