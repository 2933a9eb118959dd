"""A reviewing staff's count (`/nhacnho`) or manual nudge (its button, the digest's button), done
beside the replies and then answered.

A province's subtree is thousands of units: counting them inside the staff member's own event
held the database thread half a second, and reminding them 1.7 s (20,000 units). So the handler
only stores a `nudge_request` and says it is on it; after that commit, this walks the subtree in
short transactions (`reminders.digest.nudge_chunk`, 200 units each) and answers the staff
member with a message: the count and its "Send" button, or what was sent. Requests left by a
stopped service are answered at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel
from chidoan.engine.dispatch import notice_row
from chidoan.engine.notices import Window
from chidoan.engine.typed import remember
from chidoan.reminders.digest import Tally, count_message, nudge_chunk, sent_message
from chidoan.reminders.obligations import Calendar
from chidoan.reminders.sweep import within_hours
from chidoan.storage.models import Priority
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class Nudges:
    def __init__(self, processor: Processor, settings):
        self.processor = processor
        self.settings = settings
        self._asked = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task | None = None
        processor.committed.append(self._poke)

    def _poke(self) -> None:
        """After each commit: a handler that stored a request says so on the engine."""
        if "nudges" in self.processor.engine.asked:
            self.processor.engine.asked.discard("nudges")
            self._idle.clear()
            self._asked.set()

    async def start(self) -> None:
        self._asked.set()  # what a stopped service left unanswered
        self._task = asyncio.create_task(self._serve(), name="chidoan-nudges")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def answered(self) -> None:
        """Wait until every request committed so far is answered (tests)."""
        await self._idle.wait()

    async def _serve(self) -> None:
        while True:
            await self._asked.wait()
            self._asked.clear()
            try:
                for request in await self.processor.run(lambda uow: uow.nudges.pending()):
                    await self._answer(request)
            except Exception:
                log.exception("a staff's count or nudge failed; it is tried again at the next one")
            if not self._asked.is_set():
                self._idle.set()

    async def _answer(self, request) -> None:
        now = self.processor.clock()
        window = Window.of(self.settings)
        send_now = request.kind == "send" and within_hours(self.settings.allowed_hours, now, self.settings.tz)
        cal, unit = await self.processor.run(
            lambda uow: (
                Calendar.load(uow, self.settings),
                uow.units.one(request.unit_id),
            )
        )
        tally = Tally()
        after: int | None = 0
        while after is not None:
            chunk = partial(
                nudge_chunk, cal=cal, unit=unit, at=now, window=window, tally=tally, after_id=after, send_now=send_now
            )
            after = await self.processor.run(chunk)

        def answer(uow: UnitOfWork) -> None:
            locale = uow.accounts.one(request.account_id).locale
            message = sent_message(unit, tally, locale) if send_now else count_message(unit, tally, locale)
            row = notice_row(uow, request.account_id, message, now, window)
            if row is not None:  # they are waiting for it: it goes before any season's bulk
                uow.outbox.add_many([row | {"priority": Priority.reply}])
                if row["status"] == "pending" and message.buttons:  # "gui" typed presses "Send"
                    remember(uow, request.account_id, message, now, channel=row["channel"], chat_id=row["chat_id"])
            uow.nudges.done(request.id, now)

        await self.processor.run(answer)
        for wake in self.processor.committed:
            wake()
