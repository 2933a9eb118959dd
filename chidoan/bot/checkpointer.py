"""SQLite's WAL copied back into the database file beside the service's commits, not inside them.

The service's connections do not checkpoint (`make_db(..., checkpoints=False)`): measured in
bench/sweep.py, the automatic checkpoint (with its fsync) ran inside whichever commit crossed
1,000 pages and held it 100-200 ms, a reply's as often as not (replies' p99 5 → 2 ms without it,
and 78 → 10 ms during a reminder sweep). Here a connection of its own runs a PASSIVE checkpoint
twice a second on a thread of its own: it copies what no reader still needs and never waits for,
nor blocks, a writer. At stop, a last one empties the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from chidoan.bot.tasks import cancel
from chidoan.storage.db import make_db

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, url: str, every: float = 0.5):
        self.url = url
        self.every = every
        self._db: Engine | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._db = make_db(self.url)
        self._task = asyncio.create_task(self._loop(), name="chidoan-checkpoint")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._db is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._checkpoint, "TRUNCATE")
            self._db.dispose()
            self._db = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await asyncio.to_thread(self._checkpoint, "PASSIVE")
            except Exception as exc:  # a busy or failing database: the next one tries again
                log.warning("WAL checkpoint failed: %s", exc)

    def _checkpoint(self, mode: str) -> None:
        assert self._db is not None
        with self._db.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
