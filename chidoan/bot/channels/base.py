"""What a channel is to the app: a plug-in with its whole life (routes, start, stop, send), its
platform's limits and text length; and what the app offers it in return (`Host`).

A channel turns platform events into `Incoming` and `Outgoing` into platform calls. It touches
no table: what it learns about a person (they blocked the bot, followed an account) comes in as
an `Incoming` with a `fact`, which the engine records like any event. Adding a channel is one
module in this package with a `build(host)` function, plus its settings (see the README).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from aiohttp import web

from chidoan.bot.tasks import woken
from chidoan.engine.messages import Incoming, Outgoing
from chidoan.storage.events import EarlierFirst

if TYPE_CHECKING:
    from chidoan.bot.config import Settings
    from chidoan.bot.metrics import Metrics
    from chidoan.bot.processor import Processor
    from chidoan.engine.commands import Command
    from chidoan.storage.uow import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """A platform's pace (see bot/pacing.py): messages per second for the whole bot, sent on
    evenly spaced slots (no burst: a burst overshoots a platform's sliding one-second window),
    and per chat, a token bucket with its burst."""

    per_second: float = 0.0  # 0: unlimited
    burst: int = 1  # not used: the whole bot's messages are spaced evenly (kept for old declarations)
    per_chat_per_second: float = 0.0
    per_chat_burst: int = 1


class Unreachable(Exception):
    """The user blocked the bot or the chat is gone: stop sending to them."""


class NotReachableNow(Exception):
    """The platform refuses to deliver to this person for now (Zalo: no interaction within its
    window, not following): not an error to retry, and not for ever either. A notice goes to the
    person's next reachable channel if they have one; anything else is held (kept, not sent), and
    the person counts as unreachable, until they write or follow again: then it is sent."""


class RetryLater(Exception):
    def __init__(self, after: float, reason: str = "", counts: bool = True):
        super().__init__(reason or f"retry after {after}s")
        self.after = after
        self.counts = counts  # False: not a failure (e.g. nobody has the web chat open)


REFUSED_TOKEN = "token refused"  # how a TokenRefused row's error starts (the outbox, /metrics, alerts)


class TokenRefused(RetryLater):
    """The platform refused the bot's own credentials (HTTP 401, Zalo's invalid token): nobody can
    be written to on this channel until a person fixes the token. The row waits, not counted as a
    failed attempt, and the admins are told in chat (bot/alerts.py)."""

    def __init__(self, detail: str, after: float = 60.0):
        super().__init__(after, f"{REFUSED_TOKEN}: {detail}"[:300], counts=False)


class Channel(Protocol):
    name: str  # stored with every identity, event and outbox row: never rename one
    limits: Limits
    max_text: int  # the longest text one platform message takes; `send` splits longer ones

    def mount(self, app: web.Application) -> None:
        """Add the channel's HTTP routes (a webhook, a page) to the app's one server."""

    async def start(self) -> None:
        """Begin taking events (long polling, registering a webhook); the server is up."""

    async def stop(self) -> None:
        """Stop taking events; sending must still work (the outbox is drained after this)."""

    async def close(self) -> None:
        """Release what sending needs (HTTP sessions), once the outbox is drained."""

    async def send(self, chat_id: str, message: Outgoing) -> None:
        """Deliver one message; raise Unreachable or RetryLater as the platform answers."""


@dataclass
class Host:
    """What the app offers a channel: its settings, the door for events, the commands (for a
    platform's menu), a place for what the channel learns about itself (a bot's username), and
    reads for a channel that shows history (the web chat)."""

    settings: Settings
    processor: Processor
    commands: list[Command] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)  # demo hints for the web chat's picker
    metrics: Metrics | None = None  # counts what comes in (bot/metrics.py)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.processor.clock

    async def submit(self, incoming: Incoming) -> bool:
        """Store and handle one event; returns once it is committed (True) or was a duplicate."""
        if self.metrics is None:
            return await self._in_turn(incoming)
        return await self.metrics.timed(incoming.channel, self._in_turn(incoming))

    async def _in_turn(self, incoming: Incoming) -> bool:
        """A numbered event waits while an earlier one of its person (received by another worker)
        is handled; after TURN_WAIT it goes anyway (that worker died: the platform delivers the
        earlier one again, and it is handled late rather than never)."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + TURN_WAIT, TURN_PAUSE
        while True:
            try:
                return await self.processor.submit(incoming)
            except EarlierFirst:
                if loop.time() >= deadline:
                    log.warning(
                        "%s event %s handled before an earlier one still waiting", incoming.channel, incoming.event_id
                    )
                    incoming = dataclasses.replace(incoming, number=None)
                    continue
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def accept(self, incoming: Incoming, raw: str, *, durable: bool = True) -> bool:
        """Store an event on arrival, before handling it, with its body as received: for a
        platform that must be answered within seconds whatever the database is doing (Zalo).
        True if it was new; the channel then hands it to `submit` with `accepted=True`.
        Events stored so and never handled (a restart in between) are listed by `unprocessed`."""
        return await self.processor.accept(incoming, raw, durable=durable)

    async def unprocessed(self, channel: str) -> list[tuple[str, str]]:
        """(event id, body as received) of the channel's events accepted and not handled yet."""
        rows = await self.processor.run(lambda uow: uow.events.unprocessed(channel))
        return [(row.event_id, row.raw or "") for row in rows]

    async def keep_failed(self, incoming: Incoming, error: str, raw: str | None) -> bool:
        """Keep an event the channel could not even read as failed (see Processor.keep_failed)."""
        return await self.processor.keep_failed(incoming, error, raw)

    async def remember(self, key: str, value: str) -> None:
        """Keep a fact about the channel itself, for commands run without it (invite links)."""
        await self.processor.run(lambda uow: uow.kv.put(key, value))

    async def read(self, query: Callable[[UnitOfWork], T]) -> T:
        """Run a read-only query on the database thread."""
        return await self.processor.run(query)


# A numbered event's wait for an earlier one of its person (Host.submit): first pause, and the
# longest wait before it goes anyway.
TURN_PAUSE, TURN_WAIT = 0.005, 3.0
STORE_BACKOFF = (0.5, 30.0)  # polling: first and longest wait before storing an update again


async def store_until_stored(
    store: Callable[[], Awaitable[object]], what: str, *, stopping: asyncio.Event | None = None
) -> None:
    """Polling: an update taken from the platform's queue is stored again until it is (later
    updates wait, as they would on the platform); the processor keeps an event that keeps failing
    as failed, so what goes on failing here is a database taking no writes at all. A stop ends
    the waiting: the error is raised."""
    delay = STORE_BACKOFF[0]
    while True:
        try:
            await store()
            return
        except Exception as exc:
            if stopping is not None and stopping.is_set():
                raise  # what that means (lost, or left for the next start) is the caller's to say
            log.warning("could not store %s (%s); trying again in %.1fs", what, type(exc).__name__, delay)
            if stopping is None:
                await asyncio.sleep(delay)
            else:
                await woken(stopping, delay)
            delay = min(delay * 2, STORE_BACKOFF[1])


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text into parts of fewer than `limit` characters: at a line break, else at a
    space in the part's second half, else anywhere. Blank parts are dropped: platforms refuse
    them, and the refusal would make the sender resend every part."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut > 0:
            parts.append(text[:cut])
            text = text[cut:].lstrip("\n")
            continue
        cut = text.rfind(" ", limit // 2, limit)
        parts.append(text[:cut] if cut > 0 else text[:limit])
        text = text[cut + 1 :] if cut > 0 else text[limit:]
    parts.append(text)
    return [p for p in parts if p.strip()] or parts[:1]
