"""The bridge from asyncio channels to the synchronous engine and the database.

Every database call runs on one dedicated thread, so the event loop never blocks on SQLite or
PostgreSQL, and SQLite sees the single writer it wants. Events that arrive while a batch is
being written are written together in the next transaction (group commit): under load one
commit serves many updates, while a lone update is written at once. `submit` returns only
after the event and everything it caused (conversation state, outbox rows) are committed, so
a channel acknowledges its platform only once nothing can be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine as DbEngine
from sqlalchemy.exc import IntegrityError

from chidoan.engine.dispatch import Engine
from chidoan.engine.messages import Incoming
from chidoan.storage.clock import utcnow
from chidoan.storage.conversations import ConcurrentUpdate
from chidoan.storage.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 256
RETRIES = 3  # for an update that lost a race with another worker on PostgreSQL


class Processor:
    def __init__(self, db: DbEngine, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.engine = engine
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chidoan-db")
        self._pending: list[tuple[Incoming, asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.committed: list[Callable[[], None]] = []  # called after each commit (wakes the sender)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="chidoan-processor")

    async def stop(self) -> None:
        """Finish what was submitted (the batch under way included), then stop."""
        if self._task is not None:
            self._stopping = True
            self._wakeup.set()
            await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, incoming: Incoming) -> bool:
        """Store and handle one event; True if it was new, False if a duplicate."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((incoming, future))
        self._wakeup.set()
        return await future

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in its own transaction on the database thread."""

        def in_transaction() -> T:
            with unit_of_work(self.db) as uow:
                return work(uow)

        return await asyncio.get_running_loop().run_in_executor(self._executor, in_transaction)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not (self._stopping and not self._pending):
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await loop.run_in_executor(self._executor, self._write, [inc for inc, _ in batch])
                except Exception as exc:  # the database itself failed: the platform will retry
                    log.exception("could not store %d event(s)", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                for callback in self.committed:
                    callback()

    def _write(self, batch: list[Incoming]) -> list[bool | Exception]:
        """One transaction for the batch; if it fails (a handler raised, or a race was lost on
        PostgreSQL), one transaction per event, each isolated, so one bad event holds back none."""
        now = self.clock()
        try:
            with unit_of_work(self.db) as uow:
                return [self.engine.process(uow, incoming, now) for incoming in batch]
        except Exception:
            log.info("batch of %d failed; writing its events one by one", len(batch), exc_info=True)
            return [self._write_one(incoming) for incoming in batch]

    def _write_one(self, incoming: Incoming) -> bool | Exception:
        """The event in its own transaction. A race lost to another worker (the conversation's
        version, a unique key) is tried again; any other failure is returned for its sender."""
        for attempt in range(RETRIES):
            try:
                with unit_of_work(self.db) as uow:
                    return self.engine.process(uow, incoming, self.clock(), isolate=True)
            except (ConcurrentUpdate, IntegrityError):
                log.info("race lost on %s, retry %d", incoming.event_id, attempt + 1)
            except Exception as exc:
                log.exception("could not store %s event %s", incoming.channel, incoming.event_id)
                return exc
        return ConcurrentUpdate(incoming.event_id)
