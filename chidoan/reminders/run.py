"""A whole reminder sweep, and its two halves for the service.

`run_sweep` does it all synchronously, each chunk in its own transaction (the preview, and a
bench of the chunks). The service splits it (bot/sweeps.py): a child process reads and composes
each chunk (`child_chunk`: seconds of Python work over a province, which on the service's
database thread, or merely under its interpreter lock, would hold up the replies of people who
are typing), and the service's database thread stores the rows in small transactions between
those replies. On SQLite that keeps one writer, so a reply never waits on a lock (SQLite's busy
wait sleeps in steps of several milliseconds) but only for one small insert.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from functools import cache

from sqlalchemy import Engine, Row

from chidoan.engine.notices import Window
from chidoan.reminders.digest import digests
from chidoan.reminders.obligations import Calendar
from chidoan.reminders.sweep import CHUNK, Batch, Season, store, sweep_chunk, within_hours
from chidoan.storage.db import make_db
from chidoan.storage.uow import UnitOfWork, unit_of_work


def calendar(db: Engine, settings) -> Calendar:
    with unit_of_work(db) as uow:
        return Calendar.load(uow, settings)


def run_sweep(db: Engine, settings, at: datetime, *, dry_run: bool = False, within: Row | None = None) -> Season:
    """Make (or with `dry_run`, only find) the reminders and digests due at `at`."""
    season = Season()
    if not within_hours(settings.allowed_hours, at, settings.tz):
        return season
    window = Window.of(settings)
    cal = calendar(db, settings)
    after: int | None = 0
    while after is not None:
        with unit_of_work(db) as uow:
            after = sweep_step(uow, cal, at, window, season, after_id=after, dry_run=dry_run, within=within)
    if not dry_run:
        with unit_of_work(db) as uow:
            store_digests(uow, cal, at, window, season)
    return season


def sweep_step(
    uow: UnitOfWork,
    cal: Calendar,
    at: datetime,
    window: Window,
    season: Season,
    *,
    after_id: int,
    dry_run: bool = False,
    within: Row | None = None,
    limit: int = CHUNK,
) -> int | None:
    """One chunk of a sweep, planned and stored in this transaction. Returns the id to go on from."""
    after, batch = sweep_chunk(
        uow, cal, at, window, season, after_id=after_id, dry_run=dry_run, within=within, limit=limit
    )
    season.created += store(uow, batch, season.stages)
    return after


def store_digests(uow: UnitOfWork, cal: Calendar, at: datetime, window: Window, season: Season) -> None:
    """The day's digests of what the sweep found, stored."""
    season.created += store(uow, digests(uow, cal, season, at, window), season.stages)


@cache
def _db(url: str) -> Engine:
    return make_db(url)


# The child's sweeps under way, by database and moment: what each has read and found so far.
_under_way: dict[tuple[str, datetime], tuple[Calendar, Season]] = {}


def child_started() -> None:
    """The child process's start: the service's replies go first (a sweep is never in a hurry),
    and its heap is settled as the service's is (a sweep allocates much and keeps little)."""
    from chidoan.bot.app import settle_heap

    with contextlib.suppress(OSError):
        os.nice(10)
    settle_heap()


def child_chunk(settings, at: datetime, after_id: int) -> tuple[Batch, int | None]:
    """In the child process: the rows of the next chunk of the sweep at `at` (the first call,
    `after_id` 0, reads the calendar afresh), and the id to go on from; the last chunk's rows
    end with the day's digests."""
    db = _db(settings.database_url)
    sweep = (settings.database_url, at)
    if after_id == 0 or sweep not in _under_way:
        _under_way[sweep] = (calendar(db, settings), Season(keep=False))  # a province's worth, otherwise
    cal, season = _under_way[sweep]
    window = Window.of(settings)
    with unit_of_work(db) as uow:
        after, batch = sweep_chunk(uow, cal, at, window, season, after_id=after_id)
        if after is None:
            batch += digests(uow, cal, season, at, window)
            del _under_way[sweep]
    return batch, after
