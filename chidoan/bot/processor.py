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
import dataclasses
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine as DbEngine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from chidoan.engine.dispatch import RAW_MAX, Engine
from chidoan.engine.messages import Incoming, clean_text
from chidoan.redaction import hiding
from chidoan.storage.clock import utcnow
from chidoan.storage.conversations import ConcurrentUpdate
from chidoan.storage.db import make_db
from chidoan.storage.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 256
TRIES = 3  # one event alone, at once (a race lost to another worker on PostgreSQL is won next time)
DELIVERIES = 5  # deliveries of an event that fails for another reason, before it is kept as failed
MAX_TRACKED = 1000  # events whose failed deliveries are counted


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
        self._failures: dict[tuple[str, str], int] = {}  # failed deliveries per event (DB thread only)
        # `accept` stores on arrival on a thread and a connection of its own, so an event is
        # stored even while the database thread is busy with a long batch or a slow job.
        self._accept_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chidoan-accept")
        self._accept_db: DbEngine | None = None

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
        self._accept_executor.shutdown(wait=True)
        if self._accept_db is not None and self._accept_db is not self.db:
            self._accept_db.dispose()

    async def submit(self, incoming: Incoming) -> bool:
        """Store and handle one event; True if it was new, False if a duplicate."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((incoming, future))
        self._wakeup.set()
        return await future

    async def accept(self, incoming: Incoming, raw: str) -> bool:
        """Store an event on arrival, not yet handled, with its body as received (see
        Events.accept); True if it was new. It is handled later by `submit` with
        `incoming.accepted` set, or at the next start if the process ends first."""

        def store() -> bool:
            with unit_of_work(self._accepting_db()) as uow:
                stored = uow.events.accept(
                    channel=incoming.channel,
                    event_id=incoming.event_id,
                    kind=incoming.kind,
                    text=clean_text(incoming.text),
                    payload=clean_text(incoming.payload, 256),
                    raw=clean_text(raw, RAW_MAX) or "",
                    now=self.clock(),
                )
            return stored is not None

        return await asyncio.get_running_loop().run_in_executor(self._accept_executor, store)

    def _accepting_db(self) -> DbEngine:
        """SQLite's engine has one connection, the database thread's: `accept` gets its own
        (WAL lets it write between the other's transactions). PostgreSQL's pool has enough."""
        if self._accept_db is None:
            url = self.db.url
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                self._accept_db = make_db(url.render_as_string(hide_password=False))
            else:
                self._accept_db = self.db
        return self._accept_db

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
            with hiding(*(text for i in batch for text in (i.text, i.payload, i.display_name))):
                log.info("batch of %d failed; writing its events one by one", len(batch), exc_info=True)
            return [self._write_one(incoming) for incoming in batch]

    def _write_one(self, incoming: Incoming) -> bool | Exception:
        """The event in its own transaction, tried again at once when it fails (mostly a race
        lost to another worker: the conversation's version, a unique key). When it keeps
        failing, a database error about the event itself (a value too long, a constraint) has
        it kept as failed at once: trying later would fail the same way. Anything else (the
        database unavailable, a bug outside a handler) is returned for its channel, so the
        platform delivers it again; after DELIVERIES such failures it is kept as failed too.
        Either way a poison event holds up no one for long."""
        failure: Exception | None = None
        for attempt in range(TRIES):
            try:
                with unit_of_work(self.db) as uow:
                    result = self.engine.process(uow, incoming, self.clock(), isolate=True)
                self._failures.pop((incoming.channel, incoming.event_id), None)
                return result
            except (ConcurrentUpdate, IntegrityError) as exc:
                log.info("race lost on %s, retry %d", incoming.event_id, attempt + 1)
                failure = exc
            except Exception as exc:
                log.warning(
                    "could not store %s event %s (try %d of %d): %s",
                    incoming.channel,
                    incoming.event_id,
                    attempt + 1,
                    TRIES,
                    _first_line(exc),
                )
                failure = exc
        assert failure is not None
        return self._after_tries(incoming, failure)

    def _after_tries(self, incoming: Incoming, failure: Exception) -> bool | Exception:
        key = (incoming.channel, incoming.event_id)
        deliveries = self._failures.pop(key, 0) + 1
        if not _about_the_event(failure) and deliveries < DELIVERIES:
            if len(self._failures) >= MAX_TRACKED:  # deliveries that never came back: forget the oldest
                self._failures.pop(next(iter(self._failures)))
            self._failures[key] = deliveries
            return failure
        try:
            with unit_of_work(self.db) as uow:
                kept = self.engine.keep_failed(uow, incoming, _describe(failure), self.clock(), raw=as_raw(incoming))
        except Exception:  # the database takes no writes at all: the platform delivers it again
            log.warning("could not keep %s event %s as failed either", incoming.channel, incoming.event_id)
            self._failures[key] = deliveries
            return failure
        if kept:  # else it was kept before: this delivery is a duplicate
            log.error(
                "%s event %s kept as failed after %d tries: %s",
                incoming.channel,
                incoming.event_id,
                TRIES * deliveries,
                _describe(failure),
                exc_info=failure,
            )
        return kept

    async def keep_failed(self, incoming: Incoming, error: str, raw: str | None) -> bool:
        """Keep an event a channel could not even read (see Engine.keep_failed); False when it
        was kept before. Raises when the database takes no writes (the platform retries)."""
        kept = await self.run(lambda uow: self.engine.keep_failed(uow, incoming, error, self.clock(), raw))
        for callback in self.committed:
            callback()
        return kept


def _about_the_event(exc: Exception) -> bool:
    """A database error caused by what this event writes, not by the database's state: trying
    the same event again gives the same error."""
    return isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_first_line(exc)}"[:512]


def as_raw(incoming: Incoming) -> str:
    """The event as received, enough to handle it again later (a file by its platform reference
    and size, never its bytes)."""
    fields = {f.name: getattr(incoming, f.name) for f in dataclasses.fields(incoming) if f.name != "file"}
    if incoming.file is not None:
        file = incoming.file
        fields["file"] = {"name": file.name, "mime": file.mime, "source": file.source, "size": len(file.content)}
    return json.dumps(fields, ensure_ascii=False)
