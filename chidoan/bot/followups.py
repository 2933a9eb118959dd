"""The daily follow-up of commitments, on APScheduler: at 08:00 local time, and once at start
(a day the service was down is caught up). Asking is idempotent (see handlers/commitments.py),
so every worker may run it."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from chidoan.bot.processor import Processor
from chidoan.engine.notices import Window
from chidoan.handlers.commitments import ask_due

log = logging.getLogger(__name__)


class FollowUps:
    def __init__(self, processor: Processor, settings):
        self.processor = processor
        self.settings = settings
        self.scheduler = AsyncIOScheduler(timezone=settings.tz)

    async def run_once(self) -> int:
        now = self.processor.clock()
        window = Window.of(self.settings)
        asked = await self.processor.run(lambda uow: ask_due(uow, now, self.settings.tz, window))
        if asked:
            log.info("asked about %d commitment(s)", asked)
            for wake in self.processor.committed:  # the sender goes at once
                wake()
        return asked

    async def start(self) -> None:
        self.scheduler.add_job(
            self.run_once, CronTrigger(hour=8, timezone=self.settings.tz), id="commitments", coalesce=True
        )
        self.scheduler.start()
        await self.run_once()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
