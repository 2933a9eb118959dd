"""Does the jobs handlers leave for after their commit (see engine/jobs.py), one at a time, in
the order asked, beside the replies; a job left by a stopped service is done at the next start.

A job that fails is marked done with its error and the asker is told, so one bad job is never
retried forever nor blocks the ones behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel
from chidoan.engine.jobs import JobContext, JobFn
from chidoan.i18n import N_

log = logging.getLogger(__name__)

FAILED = N_("Sorry, that could not be prepared because of an error on our side. Please try again later.")


class Jobs:
    def __init__(self, processor: Processor, settings, kinds: Mapping[str, JobFn]):
        self.processor = processor
        self.settings = settings
        self.kinds = kinds
        self._asked = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task | None = None
        processor.committed.append(self._poke)

    def _poke(self) -> None:
        if "jobs" in self.processor.engine.asked:
            self.processor.engine.asked.discard("jobs")
            self._idle.clear()
            self._asked.set()

    async def start(self) -> None:
        self._asked.set()  # what a stopped service left undone
        self._task = asyncio.create_task(self._serve(), name="chidoan-jobs")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def done(self) -> None:
        """Wait until every job committed so far is done (tests, benchmarks)."""
        await self._idle.wait()

    async def _serve(self) -> None:
        while True:
            await self._asked.wait()
            self._asked.clear()
            try:
                for job in await self.processor.run(lambda uow: uow.jobs.pending()):
                    await self._do(job)
            except Exception:
                log.exception("reading the pending jobs failed; they are tried at the next one")
            if not self._asked.is_set():
                self._idle.set()

    async def _do(self, job) -> None:
        now = self.processor.clock()
        locale = await self.processor.run(lambda uow: uow.accounts.one(job.account_id).locale)
        ctx = JobContext(job=job, locale=locale, now=now, settings=self.settings, run=self.processor.run)
        error: str | None = None
        work = self.kinds.get(job.kind)
        try:
            if work is None:
                raise LookupError(f"no job of kind {job.kind!r}")
            await work(ctx)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            error = f"{type(exc).__name__}: {exc}"
            try:
                await ctx.reply_text(FAILED)
            except Exception:
                log.exception("telling the asker of job %s failed", job.id)
        await self.processor.run(lambda uow: uow.jobs.done(job.id, self.processor.clock(), error=error))
        for wake in self.processor.committed:
            wake()
