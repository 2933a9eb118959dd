"""The nightly prune of what is kept only for a while (storage/retention.py says what): in
batches of BATCH rows, one short transaction each on the database thread, so the replies of
people typing at 03:00 wait at most one batch (bench/prune.py measures it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chidoan.storage.retention import prune_conversations, prune_events, prune_messages
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
BATCH = 2000  # rows a transaction

Run = Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]


def _in(uow: UnitOfWork, *, step: Callable[..., int], before: datetime, limit: int) -> int:
    return step(uow.conn, before, limit)


async def prune(run: Run, settings, now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Delete every expired row; returns how many of each kind."""
    events_cut = now - timedelta(days=settings.keep_events_days)
    messages_cut = now - timedelta(days=settings.keep_messages_days)
    pruned: dict[str, int] = {}
    for name, step, cut in (
        ("events", prune_events, events_cut),
        ("messages", prune_messages, messages_cut),
        ("conversations", prune_conversations, messages_cut),
    ):
        total = 0
        while True:
            deleted: int = await run(partial(_in, step=step, before=cut, limit=batch))
            total += deleted
            if deleted < batch:
                break
        pruned[name] = total
    if any(pruned.values()):
        log.info("retention: pruned %s", ", ".join(f"{n} {k}" for k, n in pruned.items()))
    return pruned
