"""One pacing interface for the sender: each channel declares its `Limits`; `Pacer.reserve` books
the next send to a chat and says how long to wait for it.

Why slots, not a channel-wide token bucket: platforms count a sliding window (Telegram: about 30
messages in any second). A bucket with burst b lets b + rate messages through in a bucket's first
second, so any burst > 1 overshoots a strict window, and a 429 costs the row a retry_after.
Instead the channel's sends are booked on evenly spaced slots: no two closer than
`interval = (1 + MARGIN) / rate`. Any rate + 1 consecutive sends then span rate * interval =
1 + MARGIN seconds, so no one-second window holds more than `rate` of them even when a request
reaches the platform up to MARGIN seconds later than the one before it; and at the limit the
sustained rate is rate / (1 + MARGIN), 98.5 % of it. A chat's own limit (Telegram: one a second,
short bursts pass) stays a token bucket (GCRA), booked together with the channel's slot.

A booking is made only when its slot comes within `max_wait` (about a second): the send awaits
it in place. A later slot is not booked; the sender puts the row off that long (not a failure),
so a round stays short and no slot is held for a message that is not being sent. The first free
slot is taken, also one between slots booked earlier (a chat that waited for its own turn leaves
the channel's slots before it to the others).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass

from chidoan.bot.channels.base import Limits

MARGIN = 0.015  # slots 1.5 % wider than the limit: room for the network's jitter under a strict window
ROUND = 1.0  # seconds of a channel's budget one round takes from its notices and bulk rows
# Seconds a send awaits its slot; beyond it the row is put off. A little over a round's span
# (its rows sit on slots (1 + MARGIN) / rate apart, after the last slot of the round before),
# so a round's own rows are not put off.
MAX_WAIT = ROUND * (1 + MARGIN) + 0.05
MAX_CHATS = 10_000  # per-chat state kept before idle chats (their bucket full again) are forgotten


@dataclass
class _Chat:
    tat: float  # GCRA's theoretical arrival time: the chat is idle (bucket full) once it has passed


class _Slots:
    """A channel's booked send times, at least `interval` apart, sorted."""

    def __init__(self, rate: float):
        self.rate = rate
        self.interval = (1.0 + MARGIN) / rate if rate > 0 else 0.0
        self.booked: list[float] = []

    def earliest(self, t: float) -> float:
        """The first time from `t` at least `interval` away from every booked slot."""
        if self.interval <= 0:
            return t
        i = bisect.bisect_right(self.booked, t - self.interval)
        while i < len(self.booked) and self.booked[i] - t < self.interval:
            t = max(t, self.booked[i] + self.interval)
            i += 1
        return t

    def book(self, t: float, now: float) -> None:
        if self.interval <= 0:
            return
        stale = bisect.bisect_left(self.booked, now - self.interval)  # constrain nothing any more
        if stale:
            del self.booked[:stale]
        bisect.insort(self.booked, t)


class Pacer:
    """Send slots for every channel and chat; `limits_of(channel)` is read at each booking, so a
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
        self._slots: dict[str, _Slots] = {}
        self._chats: dict[tuple[str, str], _Chat] = {}

    def reserve(self, channel: str, chat_id: str) -> float:
        """Seconds until this chat's next send may go (0: now). Booked when at most `max_wait`:
        the caller sends after that wait. Longer: nothing is booked; put the message off."""
        limits = self.limits_of(channel)
        now = self.monotonic()
        slot = self._chat_ready(channel, chat_id, limits, now)
        slots = self._channel(channel, limits)
        slot = slots.earliest(slot)
        wait = slot - now
        if wait > self.max_wait:
            return wait
        slots.book(slot, now)
        if limits.per_chat_per_second > 0:
            key = (channel, chat_id)
            chat = self._chats.get(key)
            tat = chat.tat if chat is not None else now
            self._chats[key] = _Chat(max(tat, slot) + 1.0 / limits.per_chat_per_second)
            if len(self._chats) > MAX_CHATS:
                self._forget_idle(now)
        return wait

    def budget(self, channel: str, cap: int) -> int:
        """How many rows one round takes from the channel's notices and bulk: about `ROUND`
        seconds of its rate (so a reply that comes meanwhile waits about that long at most);
        `cap` for a channel without a limit."""
        rate = self.limits_of(channel).per_second
        return cap if rate <= 0 else max(1, min(cap, round(rate * ROUND)))

    def _channel(self, channel: str, limits: Limits) -> _Slots:
        slots = self._slots.get(channel)
        if slots is None or slots.rate != limits.per_second:
            slots = self._slots[channel] = _Slots(limits.per_second)
        return slots

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
