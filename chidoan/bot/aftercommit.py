"""The loop shared by the services that do what handlers leave for after their commit (a staff's
count or nudge, bot/nudges.py; a job, bot/jobs.py).

A handler stores a request row and names the service in `uow.asked`; after that commit the
service is poked, reads the pending requests and handles them one at a time beside the replies.
At start it looks once, for what a stopped service left.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any

from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel, woken
from chidoan.storage.uow import UnitOfWork, asked_after_commit

log = logging.getLogger(__name__)
POLL = 30.0  # seconds: the pending requests are looked at this often even if nobody says so


class AfterCommit(ABC):
    name = ""  # as named in uow.asked by the handlers

    def __init__(self, processor: Processor):
        self.processor = processor
        self._announced = asked_after_commit(processor.db)  # the names committed transactions asked for
        self._asked = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task | None = None
        processor.committed.append(self._poke)

    @abstractmethod
    def pending(self, uow: UnitOfWork) -> list[Any]:
        """The requests not handled yet, in the order asked."""

    @abstractmethod
    async def handle(self, request: Any) -> None:
        """Do one request and mark it handled."""

    def ask(self) -> None:
        """Look at the pending requests now (another worker stored one: bot/wakeup.py)."""
        self._idle.clear()
        self._asked.set()

    def _poke(self) -> None:
        """After each commit: a handler that stored a request said so on its transaction."""
        if self.name in self._announced:
            self._announced.discard(self.name)
            self._idle.clear()
            self._asked.set()

    async def start(self) -> None:
        self._asked.set()  # what a stopped service left
        self._task = asyncio.create_task(self._serve(), name=f"chidoan-{self.name}")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def settled(self) -> None:
        """Wait until every request committed so far is handled (tests, benchmarks)."""
        await self._idle.wait()

    async def _serve(self) -> None:
        while True:
            await woken(self._asked, POLL)  # or a wake-up missed (while not listening)
            self._asked.clear()
            try:
                for request in await self.processor.run(self.pending):
                    await self.handle(request)
            except Exception:
                log.exception("%s: handling the pending requests failed; tried again at the next one", self.name)
            if not self._asked.is_set():
                self._idle.set()

    def wake_sender(self) -> None:
        """After a commit of this service's own: the sender (and the others) look again."""
        for wake in self.processor.committed:
            wake()
