"""What every channel offers the sender, and how it reports a failed delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chidoan.engine.messages import Outgoing


@dataclass(frozen=True)
class Limits:
    """Token buckets: messages per second for the whole bot and per chat, with their bursts."""

    per_second: float = 0.0  # 0: unlimited
    burst: int = 1
    per_chat_per_second: float = 0.0
    per_chat_burst: int = 1


class Unreachable(Exception):
    """The user blocked the bot or the chat is gone: stop sending to them."""


class RetryLater(Exception):
    def __init__(self, after: float, reason: str = "", counts: bool = True):
        super().__init__(reason or f"retry after {after}s")
        self.after = after
        self.counts = counts  # False: not a failure (e.g. nobody has the web chat open)


class Channel(Protocol):
    name: str
    limits: Limits

    async def send(self, chat_id: str, message: Outgoing) -> None: ...
