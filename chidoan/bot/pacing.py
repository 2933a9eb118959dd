"""One pacing interface for the sender: each channel declares its `Limits`; `Pacer.take` waits
for a send's slot, the highest priority first, or says how long to put the message off.

Why slots, not a channel-wide token bucket: platforms count a sliding window (Telegram: about 30
messages in any second). A bucket with burst b lets b + rate messages through in a bucket's first
second, so any burst > 1 overshoots a strict window, and a 429 costs the row a retry_after.
Instead a channel's slots open one at a time, no two closer than `interval = (1 + MARGIN) /
rate` (less SLACK, a timer's lateness absorbed): any rate + 1 consecutive sends span at least
1 + MARGIN - SLACK seconds, so no one-second window holds more than `rate` of them even when a
request reaches the platform up to 10 ms later than the one before it; at the limit the
sustained rate is rate / (1 + MARGIN), 98.5 % of it. A chat's own limit (Telegram: one a second, short bursts pass) is a token bucket
(GCRA), waited for before the channel's slot.

Each slot goes to the waiting send of the highest priority (then the first to come), so a reply
that comes while a season fills every slot takes the next one: it waits one slot (1/rate), never
for the season. A send whose slot is further off than `max_wait` (about a second: its priority's
queue ahead of it, or its chat's limit) takes nothing; the sender puts the row off that long
(not a failure), so a round stays short and no slot is held for a message that is not sent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from chidoan.bot.channels.base import Limits

MARGIN = 0.015  # slots 1.5 % wider than the limit: room for the network's jitter under a strict window
ROUND = 1.0  # seconds of a channel's budget one round takes from its notices and bulk rows
# Seconds a send awaits its slot; beyond it the row is put off. A little over a round's span
# (its rows take slots (1 + MARGIN) / rate apart), so a round's own rows are not put off.
MAX_WAIT = ROUND * (1 + MARGIN) + 0.05
# A slot opened late by up to this (the event loop's timers) is counted from when it was due:
# sustained rate stays at rate / (1 + MARGIN); any rate + 1 sends still span more than a second
# by MARGIN - SLACK (10 ms) for the network's jitter.
SLACK = 0.005
MAX_CHATS = 10_000  # per-chat state kept before idle chats (their bucket full again) are forgotten


@dataclass
class _Chat:
    tat: float  # GCRA's theoretical arrival time: the chat is idle (bucket full) once it has passed


class _Gate:
    """A channel's slots: opened one at a time, at least `interval` apart, each to the waiting
    send of the highest priority, then the first to come."""

    def __init__(self, rate: float, monotonic: Callable[[], float]):
        self.rate = rate
        self.interval = (1.0 + MARGIN) / rate if rate > 0 else 0.0
        self.monotonic = monotonic
        self.next = 0.0  # when the next slot opens
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap: (priority, arrival, waiter)
        self._arrivals = itertools.count()
        self._opener: asyncio.Task | None = None

    def estimate(self, priority: int, now: float) -> float:
        """Seconds until a send of this priority asking now would get its slot."""
        if self.interval <= 0:
            return 0.0
        ahead = sum(1 for p, _n, waiter in self.waiting if p <= priority and not waiter.done())
        return max(0.0, self.next - now) + ahead * self.interval

    async def take(self, priority: int) -> None:
        if self.interval <= 0:
            return
        now = self.monotonic()
        if now >= self.next and not any(not w.done() for _p, _n, w in self.waiting):
            self.next = now + self.interval
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (priority, next(self._arrivals), waiter))
        if self._opener is None or self._opener.done():
            self._opener = asyncio.create_task(self._open(), name="chidoan-pacer")
        await waiter

    async def _open(self) -> None:
        while self.waiting:
            now = self.monotonic()
            if now < self.next:
                await asyncio.sleep(self.next - now)
                continue
            _priority, _n, waiter = heapq.heappop(self.waiting)
            if waiter.done():  # given up (cancelled)
                continue
            waiter.set_result(None)
            # From when the slot was due, so a timer's lateness is not lost at every slot; from
            # now after a longer stall, so that no burst catches up (see SLACK).
            self.next = max(self.next, now - SLACK) + self.interval


class Pacer:
    """Send slots for every channel and chat; `limits_of(channel)` is read at each send, so a
    channel's limits may change while it runs (tests turn them off)."""

    def __init__(
        self,
        limits_of: Callable[[str], Limits],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_WAIT,
    ):
        self.limits_of = limits_of
        self.monotonic = monotonic
        self.max_wait = max_wait
        self._gates: dict[str, _Gate] = {}
        self._chats: dict[tuple[str, str], _Chat] = {}

    async def take(self, channel: str, chat_id: str, priority: int) -> float:
        """Wait for this send's slot (its chat's turn, then the channel's) and return 0: send
        now. When the slot is further than `max_wait`, take nothing and return how long to put
        the message off."""
        limits = self.limits_of(channel)
        now = self.monotonic()
        ready = self._chat_ready(channel, chat_id, limits, now)
        gate = self._gate(channel, limits)
        wait = max(ready - now, gate.estimate(priority, now))
        if wait > self.max_wait:
            return max(wait, 0.001)
        if limits.per_chat_per_second > 0:  # booked now: a second send to the chat counts it
            key = (channel, chat_id)
            chat = self._chats.get(key)
            self._chats[key] = _Chat(max(chat.tat if chat else now, ready) + 1.0 / limits.per_chat_per_second)
            if len(self._chats) > MAX_CHATS:
                self._forget_idle(now)
        if ready > now:
            await asyncio.sleep(ready - now)
        await gate.take(priority)
        if limits.per_chat_per_second > 0:  # counted from when it goes, if the channel's slot came later
            sent = self._chats.get((channel, chat_id))
            after = self.monotonic() + 1.0 / limits.per_chat_per_second
            if sent is not None and sent.tat < after:
                sent.tat = after
        return 0.0

    def budget(self, channel: str, cap: int) -> int:
        """How many rows one round takes from the channel's notices and bulk: about `ROUND`
        seconds of its rate (their slots then come within `max_wait`); `cap` for a channel
        without a limit."""
        rate = self.limits_of(channel).per_second
        return cap if rate <= 0 else max(1, min(cap, round(rate * ROUND)))

    def _gate(self, channel: str, limits: Limits) -> _Gate:
        gate = self._gates.get(channel)
        if gate is None or (gate.rate != limits.per_second and not gate.waiting):
            gate = self._gates[channel] = _Gate(limits.per_second, self.monotonic)
        return gate

    def _chat_ready(self, channel: str, chat_id: str, limits: Limits, now: float) -> float:
        if limits.per_chat_per_second <= 0:
            return now
        chat = self._chats.get((channel, chat_id))
        if chat is None:
            return now
        tolerance = (max(1, limits.per_chat_burst) - 1) / limits.per_chat_per_second
        return max(now, chat.tat - tolerance)

    def _forget_idle(self, now: float) -> None:
        self._chats = {k: c for k, c in self._chats.items() if c.tat > now}
