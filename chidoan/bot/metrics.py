"""What /metrics shows (Prometheus' text format), counted at three central points: every update
a channel hands in (`Host.submit`), every outcome the Sender records, every reminder a sweep
queues. The outbox's backlog is read from the database when scraped, not kept up to date.

Each App has a registry of its own (not prometheus-client's global one), so several Apps in one
process (the tests) count apart. Under `chidoan run --workers N` a scrape reaches one worker, so
there each worker's counts are kept in files (prometheus-client's multiprocess mode, set up by
bot/workers.py before prometheus_client is imported) and every scrape shows the sum over the
workers, those that died included. Labels are channel, stage, reason: never a person or a chat.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from chidoan.bot.channels.base import REFUSED_TOKEN
from chidoan.bot.sender import MAX_ATTEMPTS

if TYPE_CHECKING:
    from chidoan.bot.sender import Outcome

# No `*_created` series beside each counter: twice the series, and nothing here reads them.
disable_created_metrics()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from an update handed in to its answer committed: a lone update takes a few ms, a
# group commit under load tens, a wedged database thread seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Read as prometheus_client reads it, when imported: set, the counts go to files in it.
SHARED = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.received = Counter(
            "chidoan_updates_received", "Updates a channel handed in to be stored", ["channel"], registry=registry
        )
        self.handled = Counter(
            "chidoan_updates_handled",
            "Updates stored and handled (new), or recognised as delivered before (duplicate)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "chidoan_handler_seconds",
            "Seconds from an update handed in to it and its answers committed",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.sent = Counter("chidoan_messages_sent", "Messages the platform took", ["channel"], registry=registry)
        self.failed = Counter(
            "chidoan_messages_failed",
            "Sends that did not go: retry (tried again later), gave_up (failed for good), unreachable "
            "(blocked the bot), held (out of the platform's reach for now), token (the bot's token refused), "
            "failed (its stored file is missing or damaged)",
            ["channel", "reason"],
            registry=registry,
        )
        self.reminders = Counter(
            "chidoan_reminders_queued", "Reminders and digests queued, per stage", ["stage"], registry=registry
        )
        # Gauges over several workers: what the scraped worker read just now (the most recent),
        # and how many lead (the sum: 1, or 0 while the leadership changes hands).
        self.pending = Gauge(
            "chidoan_outbox_pending",
            "Outbox rows waiting to be sent",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.oldest_due = Gauge(
            "chidoan_outbox_oldest_due_seconds",
            "Age of the oldest outbox row that is due and not sent (0: none)",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.leader = Gauge(
            "chidoan_leader",
            "1 while a worker is the leader (runs sweeps, sends)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.database = Gauge(
            "chidoan_database_up",
            "1 when the database answered the scrape's read (the backlog)",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.shown = registry
        if SHARED:  # every worker's files, summed
            self.shown = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.shown, SHARED)
        self.token_refusals: Tally[str] = Tally()  # per channel, for the admins' alert (bot/alerts.py)
        self._children: dict[tuple[str, str], Any] = {}  # labelled children, looked up once

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    async def timed(self, channel: str, handling: Awaitable[bool]) -> bool:
        """Count an update handed in, and once committed, its latency and outcome."""
        self._child(self.received, channel).inc()
        start = time.perf_counter()
        new = await handling
        self._child(self.latency, channel).observe(time.perf_counter() - start)
        self._child(self.handled, channel, "new" if new else "duplicate").inc()
        return new

    def recorded(self, outcomes: Iterable[Outcome]) -> None:
        """The Sender's outcomes of one chat's round (a hook in Sender._deliver_chat)."""
        for o in outcomes:
            channel = o.row.channel
            if o.status == "retry" and o.error.startswith(REFUSED_TOKEN):
                self.token_refusals[channel] += 1
                self._child(self.failed, channel, "token").inc()
            elif not o.counts:  # paced, or held back behind an earlier row: nothing was tried
                continue
            elif o.status == "sent":
                self._child(self.sent, channel).inc()
            elif o.status == "retry":
                reason = "gave_up" if o.row.attempts + 1 >= MAX_ATTEMPTS else "retry"
                self._child(self.failed, channel, reason).inc()
            else:
                self._child(self.failed, channel, o.status).inc()

    def queued(self, stages: Tally[str]) -> None:
        for stage, count in stages.items():
            self._child(self.reminders, stage).inc(count)

    def exposition(self, backlog: tuple[int, datetime | None] | None, now: datetime, leader: bool) -> bytes:
        """The text /metrics answers, with the backlog just read (`Outbox.backlog`); None: the
        database did not answer (the backlog's gauges keep their last values)."""
        self.database.set(0 if backlog is None else 1)
        if backlog is not None:
            pending, oldest = backlog
            self.pending.set(pending)
            self.oldest_due.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        self.leader.set(1 if leader else 0)
        return generate_latest(self.shown)
