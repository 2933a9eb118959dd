"""Drains the outbox: claims due rows, sends them through their channel at the platform's
pace, and records the outcome (sent, retry later, recipient unreachable, failed) per row.

Rows are claimed with a lease (their `not_before` moves a minute ahead), so a second sender
on PostgreSQL skips them and a crashed sender's rows come back. Two lanes claim and send in
rounds of their own: replies (priority 0), and notices and bulk rows (a reminder season) in
priority order, about a second of each channel's budget a round (`Pacer.budget`). So a reply
queued while a season is sending is claimed at once, and the pacer (bot/pacing.py) gives it the
channel's next slot before the season's waiting sends: it waits one slot, never for the season.
A send awaits its slot when it comes within about a second; a row whose slot is further off is
put off until then (not counted as a failure), so a round stays far shorter than the lease and
one busy chat never holds up the others.

Order is kept per (chat, priority): a chat's rows of one priority go out in the order queued,
and one that cannot go now (put off, retried later) holds back the later rows of that chat and
priority only; a reply may overtake a reminder queued for the same chat. Each chat's outcomes
are recorded as soon as it is done. On 429 (`RetryLater`) a row is tried again after the time
the platform gives; blocked (`Unreachable`): the chat's pending rows stop and the identity is
marked unreachable; any other error: backoff, then `failed` after MAX_ATTEMPTS.

A platform that refuses a person for now (`NotReachableNow`: Zalo's window, not following) holds
the chat's rows until the person writes or follows again (the engine releases them), except
notices: those go to the account's next reachable channel (see engine/notices.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Row

from chidoan.bot import downloads
from chidoan.bot.channels.base import Channel, NotReachableNow, RetryLater, Unreachable
from chidoan.bot.pacing import Pacer
from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel
from chidoan.engine.dispatch import notice_row
from chidoan.engine.messages import Attachment, Outgoing
from chidoan.engine.notices import Window
from chidoan.storage.clock import utcnow
from chidoan.storage.models import OutboxKind, Priority
from chidoan.storage.outbox import LEASE
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


@dataclass
class Outcome:
    row: Row
    status: str  # "sent", "retry", "unreachable", "held" (not reachable for now; a notice is re-routed)
    error: str = ""
    after: float = 0.0
    counts: bool = True


@dataclass
class Lane:
    """Rows of some priorities, claimed and sent in rounds of their own: replies go while a
    season's round is under way, and one priority is never in two rounds at once (its order)."""

    name: str
    priorities: tuple[int, int]  # inclusive
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    next_due: float | None = None  # monotonic time when its earliest put-off row is due


class Sender:
    def __init__(
        self,
        processor: Processor,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 100,
        idle: float = 1.0,
        window: Window | None = None,
        pacer: Pacer | None = None,
    ):
        self.processor = processor
        self.window = window or Window()
        self.channels = channels
        self.clock = clock
        self.batch = batch
        self.idle = idle
        self.lanes = (
            Lane("replies", (Priority.reply, Priority.reply)),
            Lane("notices", (Priority.notice, max(Priority))),
        )
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.pacer = pacer or Pacer(lambda name: self.channels[name].limits)
        self.recorded: list[Callable[[list[Outcome]], None]] = []  # told each chat's outcomes (metrics)
        processor.committed.append(self.wake)

    def wake(self) -> None:
        for lane in self.lanes:
            lane.wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="chidoan-sender")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the rounds under way finish and record what they sent, then stop."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                await cancel(self._task)
            self._task = None

    async def _loop(self) -> None:
        await asyncio.gather(*(self._run(lane) for lane in self.lanes))

    async def _run(self, lane: Lane) -> None:
        while not self._stopping:
            try:
                handled = await self._round(lane)
            except Exception:
                log.exception("sender round failed (%s)", lane.name)
                handled = 0
            if handled == 0 and not self._stopping:
                timeout = self.idle
                if lane.next_due is not None:  # a paced chat's turn comes before the idle poll
                    timeout = max(0.0, min(timeout, lane.next_due - time.monotonic() + 0.01))
                    lane.next_due = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wake.wait(), timeout)
                lane.wake.clear()

    async def drain_once(self) -> int:
        """One round of each lane, replies first: claim, deliver, record. Returns how many rows
        were handled."""
        return sum([await self._round(lane) for lane in self.lanes])

    async def _round(self, lane: Lane) -> int:
        rows = await self.processor.run(lambda uow: self._claim(uow, lane))
        if not rows:
            return 0
        by_chat: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in rows:
            by_chat[(row.channel, row.chat_id)].append(row)
        await asyncio.gather(*(self._deliver_chat(lane, key, chat_rows) for key, chat_rows in by_chat.items()))
        return len(rows)

    def _claim(self, uow: UnitOfWork, lane: Lane) -> list[Row]:
        """Replies: all that are due, up to `batch`. Notices and bulk rows: in priority order,
        about a second of each channel's budget (`Pacer.budget`), so their round stays short."""
        now = self.clock()
        names = list(self.channels)
        if lane.priorities[0] == Priority.reply:
            rows = uow.outbox.due(now, self.batch, names, priorities=lane.priorities)
        else:
            rows = []
            for name in names:
                rows += uow.outbox.due(now, self.pacer.budget(name, self.batch), [name], priorities=lane.priorities)
        uow.outbox.postpone([r.id for r in rows], now + LEASE)
        return rows

    async def _deliver_chat(self, lane: Lane, key: tuple[str, str], rows: list[Row]) -> None:
        """The chat's rows in (priority, id) order, each at its slot. A row that cannot go now
        holds back the later rows of its priority; unreachable or held stops the whole chat."""
        channel = self.channels[key[0]]
        outcomes: list[Outcome] = []
        blocked: dict[int, Outcome] = {}  # priority: why its later rows wait
        for index, row in enumerate(rows):
            if (before := blocked.get(row.priority)) is not None:
                outcomes.append(Outcome(row, before.status, before.error, before.after, counts=False))
                continue
            wait = await self.pacer.take(key[0], key[1], row.priority)
            if wait > 0:  # not this chat's turn for a while: put off, in order
                blocked[row.priority] = outcome = Outcome(row, "retry", "paced", wait, counts=False)
                outcomes.append(outcome)
                continue
            outcome = await self._send(channel, row)
            outcomes.append(outcome)
            if outcome.status in ("unreachable", "held"):  # the chat's pending rows all stop here
                outcomes += [Outcome(r, outcome.status, outcome.error, counts=False) for r in rows[index + 1 :]]
                break
            if outcome.status == "retry":
                blocked[row.priority] = outcome
        await self.processor.run(lambda uow: self._record(uow, outcomes))
        for callback in self.recorded:
            callback(outcomes)
        later = [o.after for o in outcomes if o.status == "retry"]
        if later:  # measured after recording: the rows are due no sooner than this
            due = time.monotonic() + min(later)
            lane.next_due = due if lane.next_due is None else min(lane.next_due, due)

    async def _send(self, channel: Channel, row: Row) -> Outcome:
        try:
            message = Outgoing.from_body(row.body)
            message.template = row.kind == OutboxKind.template
            if (attachment := message.attachment) is not None:
                settings, now = self.processor.engine.settings, self.clock()
                message.attachment = await self.processor.run(lambda uow: _load(uow, attachment, settings, now))
            await channel.send(row.chat_id, message)
        except Unreachable as exc:
            return Outcome(row, "unreachable", str(exc))
        except NotReachableNow as exc:
            return Outcome(row, "held", str(exc))
        except RetryLater as exc:
            return Outcome(row, "retry", str(exc), exc.after, exc.counts)
        except Exception as exc:  # network trouble, platform error: back off and try again
            log.warning("sending outbox row %s failed: %s", row.id, exc)
            return Outcome(row, "retry", f"{type(exc).__name__}: {exc}", min(300.0, 2.0 ** (row.attempts + 1)))
        return Outcome(row, "sent")

    def _record(self, uow: UnitOfWork, outcomes: list[Outcome]) -> None:
        now = self.clock()
        held: set[tuple[str, str]] = set()
        for o in outcomes:
            if o.status == "sent":
                uow.outbox.mark_sent(o.row.id, now)
            elif o.status == "unreachable":
                uow.outbox.mark_unreachable(o.row.channel, o.row.chat_id, o.error)
                uow.accounts.mark_unreachable(o.row.channel, o.row.chat_id, now)
            elif o.status == "held":  # reachable again when they write or follow (the engine)
                if (o.row.channel, o.row.chat_id) in held:
                    continue  # the chat's pending rows were dealt with at its first refusal
                held.add((o.row.channel, o.row.chat_id))
                uow.accounts.mark_unreachable(o.row.channel, o.row.chat_id, now)
                self._reroute(uow, o.row.channel, o.row.chat_id, o.error, now)
                uow.outbox.mark_held(o.row.channel, o.row.chat_id, o.error)
            else:
                uow.outbox.mark_retry(
                    o.row.id,
                    error=o.error,
                    retry_at=now + timedelta(seconds=o.after),
                    counts=o.counts,
                    max_attempts=MAX_ATTEMPTS,
                )

    def _reroute(self, uow: UnitOfWork, channel: str, chat_id: str, error: str, now) -> None:
        """The platform refused this chat for now: its notices (not replies, which answer what the
        person wrote there) go to the account's next reachable channel, queued in this
        transaction; the refused row stays as `rerouted` with the refusal. A notice with nowhere
        else to go stays here, held (the caller), until the person writes or follows again."""
        for row in uow.outbox.pending_notices(channel, chat_id):
            if row.account_id is None:
                continue
            refused = next(
                (i.id for i in uow.accounts.identities(row.account_id) if (i.channel, i.chat_id) == (channel, chat_id)),
                None,
            )
            moved = notice_row(uow, row.account_id, Outgoing(""), now, self.window, refused=refused)
            if moved is None or (moved["channel"], moved["chat_id"]) == (channel, chat_id):
                continue
            # A keyed notice (a reminder) keeps its key, marked, so that meeting its obligation
            # still cancels it there.
            key = f"{row.dedupe_key}~{moved['channel']}" if row.dedupe_key else None
            uow.outbox.add_many([moved | {"body": row.body, "priority": row.priority, "dedupe_key": key}])
            uow.outbox.mark_rerouted(row.id, error)
            log.info("outbox row %s refused by %s (%s): queued on %s instead", row.id, channel, error, moved["channel"])


def _load(uow: UnitOfWork, attachment: Attachment, settings, now: datetime) -> Attachment:
    """The document's bytes (from the file store), and a download link for channels that cannot carry it."""
    document = uow.documents.one(attachment.document_id)
    link = downloads.link_for(uow, settings, document.id, now)
    return Attachment(
        document.id,
        document.filename,
        uow.documents.content(document),
        document.token,
        link=link[0] if link else None,
        link_expires=link[1] if link else None,
        media=attachment.media,
        kind=document.kind,
    )
