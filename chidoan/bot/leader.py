"""One leader per deployment: the process that runs the sweeps, the nudges, the jobs and the
Sender (see App). Several workers on one PostgreSQL elect it with a session advisory lock held on
a connection of the leader's own: the others try to take it every RETRY seconds; the holder
checks its connection every CHECK seconds and steps down at once when it fails. PostgreSQL
releases a dead session's lock as soon as its connection closes (a killed process's socket is
closed by the kernel), so another worker leads within about RETRY seconds of a kill -9. On
SQLite there is one process: it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from chidoan.bot.tasks import cancel, within
from chidoan.storage.clock import utcnow

log = logging.getLogger(__name__)

LOCK = int.from_bytes(hashlib.sha256(b"chidoan-leader").digest()[:8], "big", signed=True)
RETRY = 2.0  # seconds between a follower's tries
CHECK = 2.0  # seconds between the leader's checks of its connection
# The longest a query of the leader's may take before its connection counts as dead: not CHECK,
# which a busy server may well outlast once without anything being wrong with the connection.
ANSWER_WITHIN = 5.0

Callback = Callable[[], Awaitable[None]]


# The long-lived connections (the leader's, the NOTIFY listener's) notice a peer gone silently
# (a failover, a NAT that forgot them) within about 35 s, not the system's 2 hours.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 20, "keepalives_interval": 5, "keepalives_count": 3}


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it (no "+psycopg" driver)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Leader:
    """`held` says whether this process leads now, `since` since when; the coroutines in `gained`
    run when it becomes leader, those in `lost` when it stops being one (in that order)."""

    def __init__(
        self,
        database_url: str,
        *,
        retry: float = RETRY,
        check: float = CHECK,
        answer_within: float = ANSWER_WITHIN,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.postgres = make_url(database_url).get_backend_name() == "postgresql"
        self.conninfo = libpq_url(database_url) if self.postgres else ""
        self.retry = retry
        self.check = check
        self.answer_within = answer_within
        self.clock = clock
        self.held = False
        self.since: datetime | None = None
        self.gained: list[Callback] = []
        self.lost: list[Callback] = []
        self._conn: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task | None = None
        # Taking over and stepping down are never cut short by a stop (see stop): stopping
        # half-started services could wait forever, and services left running would go on.
        self._gaining: asyncio.Task | None = None
        self._losing: asyncio.Task | None = None

    async def start(self) -> None:
        """Lead at once if no one does (the first try is awaited: a lone worker leads when its
        start returns), else go on trying in the background."""
        if not self.postgres:
            await self._gain()
            return
        try:
            await self._connect()
            if await self._try():
                await self._gain()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("leader: %s: %s", type(exc).__name__, exc)
            await self._close()
        self._task = asyncio.create_task(self._run(), name="chidoan-leader")

    async def stop(self) -> None:
        """Step down (what leads stops first), then give the lock back for another to take. A
        take-over or step-down under way finishes first."""
        await cancel(self._task)
        self._task = None
        for change in (self._gaining, self._losing):
            if change is not None:
                await change
        await self._lose()
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing the connection releases it anyway
                await within(self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,)), self.answer_within)
            await self._close()

    async def _run(self) -> None:
        while True:
            try:
                if not self.held:
                    await self._connect()
                    while not await self._try():
                        await asyncio.sleep(self.retry)
                    self._gaining = asyncio.ensure_future(self._gain())
                    await asyncio.shield(self._gaining)
                while await self._alive():
                    await asyncio.sleep(self.check)
                log.error("leader: its database connection failed; stepping down")
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader: %s: %s", type(exc).__name__, exc)
            self._losing = asyncio.ensure_future(self._lose())
            await asyncio.shield(self._losing)
            await self._close()
            await asyncio.sleep(self.retry)

    async def _connect(self) -> None:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=5, **KEEPALIVES
            )

    async def _try(self) -> bool:
        assert self._conn is not None
        cursor = await within(self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK,)), self.answer_within)
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _alive(self) -> bool:
        assert self._conn is not None
        try:
            await within(self._conn.execute("SELECT 1"), self.answer_within)
        except (psycopg.Error, OSError, TimeoutError):
            return False
        return True

    async def _gain(self) -> None:
        self.held, self.since = True, self.clock()
        log.info("leading (sweeps, nudges, jobs, sending)")
        await _run_each(self.gained, "taking over")

    async def _lose(self) -> None:
        if not self.held:
            return
        self.held, self.since = False, None
        log.info("no longer leading")
        await _run_each(self.lost, "stepping down")

    async def _close(self) -> None:
        """Close the connection, bounded: one whose server is unreachable is left to the kernel."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await within(conn.close(), self.answer_within)


async def _run_each(callbacks: list[Callback], doing: str) -> None:
    """Run every callback in turn: one that fails is logged and the others still run."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("leader: %s failed in %s", doing, getattr(callback, "__name__", callback))
