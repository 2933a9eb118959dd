"""Drains the outbox: claims due rows, sends them through their channel at the platform's
pace, and records the outcome (sent, retry later, recipient unreachable, failed) per row.

Only the leader sends (bot/leader.py): one process, so one budget per channel (its Pacer) and
each chat's rows in order. Rows are claimed with a short lease (their `not_before` moves LEASE
ahead) that a live sender renews every RENEW seconds, so a new leader takes over a dead one's rows
within LEASE of its death. Each row's before-send intent (its `sent_at`, still pending) is
committed just before its send, and its outcome just after it, so a crash repeats at most the
messages in flight at that moment: those are claimed again once their lease is over.
Intents and outcomes of concurrent sends are written together (`Journal`: one commit for all
those queued while the previous one commits). An outcome that cannot be written (the database
is away) is kept in memory and written once it answers, its chat still in flight meanwhile, so
the message is not sent again. Two lanes claim and send each on its own: replies (priority 0),
and notices and bulk rows (a reminder season) in priority order, about a second of each
channel's budget at a time (`Pacer.budget`, the rows in flight counted). Each chat's rows are
delivered by a task of their own, and the lane claims again as soon as it is woken or a chat is
done, skipping the chats in flight: a stalled send holds up its own chat only. So a reply queued
while a season is sending is claimed at once, and the pacer (bot/pacing.py) gives it the
channel's next slot before the season's waiting sends: it waits one slot, never for the season.
A send awaits its slot when it comes within about a second; a row whose slot is further off is
put off until then (not counted as a failure), so a chat's delivery stays far shorter than the
lease and one busy chat never holds up the others.

Order is kept per (chat, priority): a chat's rows of one priority go out in the order queued,
and one that cannot go now (put off, retried later) holds back the later rows of that chat and
priority only; a reply may overtake a reminder queued for the same chat. Each row's outcome is
recorded as soon as it is known. On 429 (`RetryLater`) a row is tried again after the time
the platform gives; blocked (`Unreachable`): the chat's pending rows stop and the identity is
marked unreachable; any other error: backoff, then `failed` after MAX_ATTEMPTS.

A platform that refuses a person for now (`NotReachableNow`: Zalo's window, not following) holds
the chat's rows until the person writes or follows again (the engine releases them), except
notices: those go to the account's next reachable channel (see engine/notices.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Row
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chidoan.bot import downloads
from chidoan.bot.channels.base import Channel, NotReachableNow, RetryLater, Unreachable
from chidoan.bot.outage import Outage
from chidoan.bot.pacing import Pacer
from chidoan.bot.processor import Processor
from chidoan.bot.tasks import cancel, within, woken
from chidoan.engine.dispatch import notice_row
from chidoan.engine.messages import Attachment, Outgoing
from chidoan.engine.notices import Window
from chidoan.storage.clock import utcnow
from chidoan.storage.documents import FileDamaged, read_bytes
from chidoan.storage.files import FileMissing
from chidoan.storage.models import OutboxKind, Priority
from chidoan.storage.outbox import LEASE, UNREADABLE_FILE
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Seconds between tries to write an outcome while the database is away (a refused connection is
# cheap: retried often, the reply after it goes soon after the database is back), and how long a
# shutdown's drain waits for them before sending anything.
KEEP_PAUSE, KEEP_PAUSE_MAX, SETTLE_WITHIN = 0.25, 1.0, 5.0
RENEW = LEASE.total_seconds() / 4  # seconds between renewals of the claimed rows' lease


@dataclass
class Outcome:
    row: Row
    status: str  # "sent", "retry", "unreachable", "held" (not reachable for now; a notice is re-routed),
    # "failed" (can never go: its stored file is missing or damaged)
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
    # Chats being delivered, each by a task of its own, and how many rows each holds: the lane
    # claims again without waiting for them (a stalled send holds up its own chat only), skipping
    # these chats (their rows stay leased), so a chat's rows still go one at a time in order.
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    tasks: set[asyncio.Task] = field(default_factory=set)
    outage: Outage = field(init=False)  # its rounds failing (the database down): logged once a minute

    def __post_init__(self) -> None:
        self.outage = Outage(log, f"sender round ({self.name})")


class Journal:
    """The sender's small writes (intents, outcomes, lease renewals) with group commit: those
    queued while one transaction commits go together in the next, each awaited until committed.
    A transaction that fails is retried one write at a time, so one bad write fails alone."""

    def __init__(self, run: Callable[[Callable[[UnitOfWork], None]], Awaitable[None]]):
        self.run = run
        self._queued: list[tuple[Callable[[UnitOfWork], None], asyncio.Future[None]]] = []
        self._task: asyncio.Task | None = None
        self.commits = 0
        self.unrecorded: list[Callable[[UnitOfWork], None]] = []  # outcomes of sends, not committed yet

    def _submit(self, work: Callable[[UnitOfWork], None]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="chidoan-sender-journal")
        return future

    async def write(self, work: Callable[[UnitOfWork], None]) -> None:
        future = self._submit(work)
        try:
            await asyncio.shield(future)  # a cancelled round still has its write committed
        except asyncio.CancelledError:
            future.add_done_callback(_log_orphan)  # its writer is gone: a failure is logged here, once
            raise

    async def keep(self, work: Callable[[UnitOfWork], None]) -> None:
        """`write`, tried again while the database is unreachable, until it is committed: the
        outcome of a send that went out is kept in memory meanwhile (`unrecorded`, even past a
        stop: the next start writes it before claiming anything), and its chat stays in flight,
        so its row is not claimed and sent again."""
        self.unrecorded.append(work)
        await self._settle(work)

    async def settle(self) -> None:
        """Write the outcomes kept unrecorded, waiting for the database while it is unreachable."""
        for work in list(self.unrecorded):
            await self._settle(work)

    async def _settle(self, work: Callable[[UnitOfWork], None]) -> None:
        pause = KEEP_PAUSE
        while work in self.unrecorded:
            future = self._submit(work)
            future.add_done_callback(partial(self._committed, work))  # also when its writer is gone
            try:
                await asyncio.shield(future)
            except (OperationalError, InterfaceError, PoolTimeout) as exc:  # the database away, or busy
                log.warning("recording %d send outcome(s) failed (%s): kept, tried again", len(self.unrecorded), exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, KEEP_PAUSE_MAX)
            except Exception:  # not the database being away: this write fails alone, as `write`'s
                with contextlib.suppress(ValueError):
                    self.unrecorded.remove(work)
                raise

    def _committed(self, work: Callable[[UnitOfWork], None], future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            with contextlib.suppress(ValueError):
                self.unrecorded.remove(work)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []

            def together(uow: UnitOfWork, batch=batch) -> None:
                for work, _future in batch:
                    work(uow)

            try:
                await self.run(together)
                self.commits += 1
                results: list[BaseException | None] = [None] * len(batch)
            except Exception:
                results = [await self._alone(work) for work, _f in batch]
            for (_work, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if result is None:
                    future.set_result(None)
                else:
                    future.set_exception(result)

    async def _alone(self, work: Callable[[UnitOfWork], None]) -> BaseException | None:
        try:
            await self.run(work)
            self.commits += 1
        except Exception as exc:
            return exc
        return None


def _log_orphan(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("a sender's write failed after its round was cancelled: %s", exc)


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
        self.journal = Journal(processor.run)
        self._claimed: set[int] = set()  # rows claimed and not recorded yet: their lease is renewed
        processor.committed.append(self.wake)

    def wake(self) -> None:
        for lane in self.lanes:
            lane.wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="chidoan-sender")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the rounds under way finish and record what they sent, then stop."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            try:
                await within(asyncio.shield(self._task), timeout)
            except TimeoutError:
                await cancel(self._task)
            self._task = None

    async def _loop(self) -> None:
        renewing = asyncio.create_task(self._renew(), name="chidoan-sender-lease")
        try:
            try:  # what went out before a stop, first: it is not sent again
                await self.journal.settle()
            except Exception:  # that write fails alone (as `write`'s); sending goes on
                log.exception("an outcome kept from before could not be recorded: its row may be sent again")
            await asyncio.gather(*(self._run(lane) for lane in self.lanes))
        finally:
            await cancel(renewing)

    async def _renew(self) -> None:
        """While alive, keep the lease of the rows claimed and not yet recorded."""
        while True:
            await asyncio.sleep(RENEW)
            if ids := sorted(self._claimed):
                until = self.clock() + LEASE
                try:
                    await self.journal.write(partial(_renew, ids=ids, until=until))
                except Exception:
                    log.exception("renewing the lease of %d outbox row(s) failed", len(ids))

    async def _run(self, lane: Lane) -> None:
        try:
            while not self._stopping:
                lane.wake.clear()  # before claiming: a wake during the claim is kept
                try:
                    handled = len(await self._round(lane))
                except Exception as exc:
                    lane.outage.failed(exc)
                    handled = 0
                else:
                    lane.outage.worked()
                if handled == 0 and not self._stopping:
                    timeout = self.idle
                    if lane.next_due is not None:  # a paced chat's turn comes before the idle poll
                        timeout = max(0.0, min(timeout, lane.next_due - time.monotonic() + 0.01))
                        lane.next_due = None
                    await woken(lane.wake, timeout)  # by a commit, or a chat done
            await asyncio.gather(*lane.tasks, return_exceptions=True)  # the chats under way finish and record
        finally:
            for task in list(lane.tasks):
                await cancel(task)

    async def drain_once(self) -> int:
        """One round of each lane, replies first: claim, deliver, record. Returns how many rows
        were handled."""
        try:  # outcomes kept from before a stop first: their rows are not claimed and sent again
            await within(self.journal.settle(), SETTLE_WITHIN)
        except TimeoutError:
            return 0  # the database is away: nothing more is sent
        handled = 0
        for lane in self.lanes:
            started = await self._round(lane)
            handled += sum(started.values())
            await asyncio.gather(*started)
        return handled

    async def _round(self, lane: Lane) -> dict[asyncio.Task, int]:
        """Claim the lane's due rows, but none of a chat in flight, and start each chat's
        delivery as a task of its own. Returns the tasks started and each one's rows."""
        busy = {
            channel: sum(n for (c, _chat), n in lane.in_flight.items() if c == channel) for channel in self.channels
        }
        skip = list(lane.in_flight)
        rows = await self.processor.run(lambda uow: self._claim(uow, lane, skip, busy))
        by_chat: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in rows:
            by_chat[(row.channel, row.chat_id)].append(row)
        started = {}
        for key, chat_rows in by_chat.items():
            self._claimed.update(r.id for r in chat_rows)
            lane.in_flight[key] = len(chat_rows)
            task = asyncio.create_task(self._deliver(lane, key, chat_rows), name=f"chidoan-sender-{lane.name}-chat")
            lane.tasks.add(task)
            started[task] = len(chat_rows)
        return started

    async def _deliver(self, lane: Lane, key: tuple[str, str], rows: list[Row]) -> None:
        try:
            await self._deliver_chat(lane, key, rows)
        except Exception:  # its rows come back when their lease ends
            log.exception("delivering to a chat failed (%s)", lane.name)
        finally:
            self._claimed.difference_update(r.id for r in rows)
            lane.in_flight.pop(key, None)
            lane.tasks.discard(asyncio.current_task())
            lane.wake.set()  # the lane claims again: this chat's later rows, or the room it left

    def _claim(self, uow: UnitOfWork, lane: Lane, skip: list[tuple[str, str]], busy: dict[str, int]) -> list[Row]:
        """Replies: all that are due, up to `batch` a channel. Notices and bulk rows: in priority order,
        about a second of each channel's budget (`Pacer.budget`), so their rounds stay short.
        Those in flight (`busy`, per channel) count against either; their chats (`skip`) wait."""
        now = self.clock()
        replies = lane.priorities[0] == Priority.reply
        rows = []
        for name in self.channels:  # each channel's room its own: a stalled platform holds up no other
            limit = self.batch if replies else self.pacer.budget(name, self.batch)
            if (room := limit - busy.get(name, 0)) > 0:
                rows += uow.outbox.due(now, room, [name], priorities=lane.priorities, skip=skip)
        uow.outbox.postpone([r.id for r in rows], now + LEASE)
        if repeated := [r.id for r in rows if r.sent_at is not None]:
            log.warning("outbox rows %s were in flight when their sender stopped: sending them again", repeated)
        return rows

    async def _deliver_chat(self, lane: Lane, key: tuple[str, str], rows: list[Row]) -> None:
        """The chat's rows in (priority, id) order, each at its slot: its intent committed just
        before the send, its outcome just after. A row that cannot go now holds back the later
        rows of its priority; unreachable or held stops the whole chat."""
        channel = self.channels[key[0]]
        outcomes: list[Outcome] = []
        deferred: list[Outcome] = []  # rows not tried this round: recorded at its end
        blocked: dict[int, Outcome] = {}  # priority: why its later rows wait
        for index, row in enumerate(rows):
            if (before := blocked.get(row.priority)) is not None:
                deferred.append(Outcome(row, before.status, before.error, before.after, counts=False))
                continue
            wait = await self.pacer.take(key[0], key[1], row.priority)
            if wait > 0:  # not this chat's turn for a while: put off, in order
                blocked[row.priority] = outcome = Outcome(row, "retry", "paced", wait, counts=False)
                deferred.append(outcome)
                continue
            now = self.clock()
            await self.journal.write(partial(_intent, row_id=row.id, now=now))
            outcome = await self._send(channel, row)
            outcomes.append(outcome)
            self._claimed.discard(row.id)  # before its outcome is queued: a renewal after it must not move it
            await self.journal.keep(partial(self._record, outcomes=[outcome]))
            if outcome.status in ("unreachable", "held"):  # the chat's pending rows all stop here
                deferred += [Outcome(r, outcome.status, outcome.error, counts=False) for r in rows[index + 1 :]]
                break
            if outcome.status == "retry":
                blocked[row.priority] = outcome
        if deferred:
            self._claimed.difference_update(o.row.id for o in deferred)
            await self.journal.write(lambda uow: self._record(uow, deferred))
        outcomes += deferred
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
                loaded, fetch = await self.processor.run(lambda uow: _load(uow, attachment, settings, now))
                # The bytes (up to 10 MB, maybe from S3) are read off the database thread.
                message.attachment = dataclasses.replace(loaded, content=await asyncio.to_thread(fetch))
            await channel.send(row.chat_id, message)
        except (FileMissing, FileDamaged) as exc:  # no retry brings the bytes back: the chat's next rows go on
            log.error("outbox row %s cannot be sent: its stored file is missing or damaged (%s)", row.id, exc)
            return Outcome(row, "failed", f"{UNREADABLE_FILE}{exc.key}")
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
        uow.outbox.unsend([o.row.id for o in outcomes if o.status != "sent"])
        for o in outcomes:
            if o.status == "sent":
                uow.outbox.mark_sent(o.row.id, now)
            elif o.status == "failed":
                uow.outbox.mark_failed(o.row.id, o.error, now)
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


def _renew(uow: UnitOfWork, ids: list[int], until: datetime) -> None:
    uow.outbox.postpone(ids, until)


def _intent(uow: UnitOfWork, row_id: int, now: datetime) -> None:
    uow.outbox.mark_sending([row_id], now, now + LEASE)


def _load(uow: UnitOfWork, attachment: Attachment, settings, now: datetime) -> tuple[Attachment, Callable[[], bytes]]:
    """The document, with a download link for channels that cannot carry it, and how to read its
    bytes from the file store (done outside the transaction)."""
    document = uow.documents.one(attachment.document_id)
    link = downloads.link_for(uow, settings, document.id, now)
    loaded = Attachment(
        document.id,
        document.filename,
        None,
        document.token,
        link=link[0] if link else None,
        link_expires=link[1] if link else None,
        media=attachment.media,
        kind=document.kind,
    )
    return loaded, partial(read_bytes, uow.files, document)
