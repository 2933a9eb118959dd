"""Jobs: what a handler leaves for after its commit (`ctx.later(kind, **params)`), done by
bot/jobs.py and answered in the chat it came from.

A chart, a compiled report or a province's export reads many rows and renders for tens or
hundreds of milliseconds; inside the person's event that would hold the one database thread and
every other person's reply behind it. A job instead reads in short transactions (`read`),
renders off the database thread (`render`), and stores its answer (`reply`, `reply_file`) in one
more short transaction. A job function is registered by kind in `build_engine(jobs=...)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row

from chidoan.engine.messages import Attachment, Button, Outgoing
from chidoan.engine.typed import remember
from chidoan.i18n import gettext
from chidoan.storage.uow import UnitOfWork, unit_of_work

T = TypeVar("T")


@dataclass
class JobContext:
    job: Row  # kind, account_id, channel, chat_id, params, created_at
    locale: str  # the asker's, read when the job started
    now: datetime  # UTC
    settings: Any
    run: Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]  # a short transaction on the database thread

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    def t(self, msgid: str, **params: object) -> str:
        return gettext(self.locale, msgid, **params)

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """One short transaction on the database thread; keep each under ~50 ms (chunk a subtree)."""
        return await self.run(work)

    async def render(self, work: Callable[..., T], *args: Any) -> T:
        """CPU work (a .docx, an .xlsx, a PNG) on a worker thread, off the database thread."""
        return await asyncio.to_thread(work, *args)

    async def reply(self, message: Outgoing) -> None:
        """Queue the answer in the asker's chat, ahead of any season's bulk."""
        await self.run(lambda uow: self._queue(uow, message))

    async def reply_text(self, msgid: str, *, buttons: list[list[Button]] | None = None, **params: object) -> None:
        await self.reply(Outgoing(self.t(msgid, **params), buttons or []).with_hint(self.locale))

    async def reply_file(
        self,
        content: bytes,
        filename: str,
        msgid: str,
        *,
        kind: str,
        media: str = "document",
        buttons: list[list[Button]] | None = None,
        buttons_for: Callable[[UnitOfWork, int], list[list[Button]]] | None = None,
        **params: object,
    ) -> int:
        """Store the file as a document and send it with a caption; returns the document's id.
        `media` "photo": a picture, shown as one where the channel can (see Attachment).
        `buttons_for(uow, document_id)`: buttons that name the stored document."""
        caption = self.t(msgid, **params)

        def store(uow: UnitOfWork) -> int:
            document_id = uow.documents.add(kind=kind, filename=filename, content=content, now=self.now)
            rows = buttons_for(uow, document_id) if buttons_for is not None else buttons or []
            message = Outgoing(caption, rows, attachment=Attachment(document_id, filename, media=media))
            self._queue(uow, message.with_hint(self.locale))
            return document_id

        return await self.run(store)

    def _queue(self, uow: UnitOfWork, message: Outgoing) -> None:
        from chidoan.engine.dispatch import outbox_row  # dispatch imports the context, which imports this

        job = self.job
        uow.outbox.add_many([outbox_row(job.channel, job.chat_id, job.account_id, message, self.now)])
        if message.buttons:  # typed "1" or the label's words press the job's buttons too
            remember(uow, job.account_id, message, self.now, channel=job.channel, chat_id=job.chat_id)


JobFn = Callable[[JobContext], Awaitable[None]]


def standalone(db: Any) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]:
    """`read` and `render` for a builder run outside the service (the command line, tests): each
    read one transaction of its own on `db`, the rendering done in line."""

    async def read(work):
        with unit_of_work(db) as uow:
            return work(uow)

    async def render(work, *args):
        return work(*args)

    return read, render
