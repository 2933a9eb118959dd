"""Does the jobs handlers leave for after their commit (see engine/jobs.py), one at a time, in
the order asked, beside the replies; a job left by a stopped service is done at the next start.

A job that fails is marked done with its error and the asker is told, so one bad job is never
retried forever nor blocks the ones behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Row

from chidoan.bot.aftercommit import AfterCommit
from chidoan.bot.processor import Processor
from chidoan.engine.jobs import JobContext, JobFn
from chidoan.i18n import N_
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

FAILED = N_("Sorry, that could not be prepared because of an error on our side. Please try again later.")


class Jobs(AfterCommit):
    name = "jobs"

    def __init__(self, processor: Processor, settings, kinds: Mapping[str, JobFn]):
        super().__init__(processor)
        self.settings = settings
        self.kinds = kinds

    def pending(self, uow: UnitOfWork) -> list[Row]:
        return uow.jobs.pending()

    async def handle(self, job: Row) -> None:
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
        self.wake_sender()
