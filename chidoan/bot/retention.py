"""The nightly prune of what is kept only for a while (storage/retention.py says what): in
batches of BATCH rows, one short transaction each on the database thread, so the replies of
people typing at 03:00 wait at most one batch (bench/prune.py measures it)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chidoan.storage.retention import (
    Taken,
    prune_conversations,
    prune_drafts,
    prune_events,
    prune_exports,
    prune_messages,
)
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
BATCH = 2000  # rows a transaction

Run = Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]
Step = Callable[..., Taken]


def _in(uow: UnitOfWork, *, step: Step, before: datetime, limit: int) -> Taken:
    return step(uow.conn, before, limit)


async def prune(run: Run, settings, now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Delete every expired row; returns how many of each kind: "events", "messages",
    "messages_blanked" (keyed ones reduced to their key), "conversations" (finished), "drafts",
    "uploads" (the files sent in those conversations and drafts), "exports"."""
    pruned: Counter[str] = Counter()
    for step, days in (
        (prune_events, settings.keep_events_days),
        (prune_messages, settings.keep_messages_days),
        (prune_conversations, settings.keep_messages_days),
        (prune_drafts, settings.keep_drafts_days),
        (prune_exports, settings.keep_exports_days),
    ):
        while True:
            taken, counts = await run(partial(_in, step=step, before=now - timedelta(days=days), limit=batch))
            pruned.update(counts)
            if taken < batch:
                break
    if any(pruned.values()):
        log.info("retention: pruned %s", ", ".join(f"{n} {k}" for k, n in pruned.items()))
    return dict(pruned)
