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

from functools import partial

from sqlalchemy import Row

from chidoan.bot.aftercommit import AfterCommit
from chidoan.bot.processor import Processor
from chidoan.engine.dispatch import notice_row
from chidoan.engine.notices import Window
from chidoan.engine.typed import remember
from chidoan.reminders.digest import Tally, count_message, nudge_chunk, sent_message
from chidoan.reminders.obligations import Calendar
from chidoan.reminders.sweep import within_hours
from chidoan.storage.models import Priority
from chidoan.storage.uow import UnitOfWork


class Nudges(AfterCommit):
    name = "nudges"

    def __init__(self, processor: Processor, settings):
        super().__init__(processor)
        self.settings = settings

    def pending(self, uow: UnitOfWork) -> list[Row]:
        return uow.nudges.pending()

    async def handle(self, request: Row) -> None:
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
        self.wake_sender()
