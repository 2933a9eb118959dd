"""The leader's ear: on PostgreSQL it LISTENs on a connection of its own for the NOTIFY that
other workers send when they commit outbox rows, nudge requests or jobs (storage/wakeup.py), and
wakes the service concerned at once, so a reply written on another worker goes out within a few
milliseconds instead of at the sender's next idle poll (which stays as the fallback, as it does
while this reconnects)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from chidoan.bot.leader import KEEPALIVES, libpq_url
from chidoan.bot.tasks import cancel
from chidoan.storage.wakeup import CHANNEL

log = logging.getLogger(__name__)
RECONNECT = 2.0  # seconds


class Listener:
    def __init__(self, database_url: str, wakers: dict[str, Callable[[], None]]):
        self.conninfo = libpq_url(database_url)
        self.wakers = wakers  # topic: what to wake
        self.heard = 0
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chidoan-listener")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        self.listening.clear()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5, **KEEPALIVES
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    for wake in self.wakers.values():  # what was committed while not listening
                        wake()
                    async for note in conn.notifies():
                        self.heard += 1
                        if (waker := self.wakers.get(note.payload)) is not None:
                            waker()
            except (psycopg.Error, OSError) as exc:
                log.warning("listener: %s: %s; listening again in %.0f s", type(exc).__name__, exc, RECONNECT)
            self.listening.clear()
            await asyncio.sleep(RECONNECT)
