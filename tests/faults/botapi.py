"""Fault modes of the fake Bot API, drawn at random per sending call (sendMessage and the other
calls that put a message in a chat):

- "500": answered with a server error, the message not delivered;
- "429": answered Too Many Requests with `retry_after`, not delivered;
- "timeout": delivered (the person sees it), but the answer never comes: the connection is held
  `hang` seconds, then dropped. The bot cannot know the message arrived, so it sends it again:
  the copies such a message gets are counted apart (`ambiguous`), as Telegram gives a bot no way
  to tell (a send has no idempotency key).

`stall_next(seconds)` makes the next sending call wait that long before it is handled (a slow
Bot API, not a failure).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from typing import Any

from aiohttp import web

from tests.fake_telegram import _SENDING, Call, FakeTelegram

_REQUEST: contextvars.ContextVar[web.Request | None] = contextvars.ContextVar("fault_request", default=None)


class _Hang(Exception):
    pass


class FaultyTelegram(FakeTelegram):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.odds: dict[str, float] = {}
        self.retry_after = 1
        self.hang = 1.0
        self.rng = random.Random(0)
        self.faults: dict[str, int] = {"500": 0, "429": 0, "timeout": 0}
        self.timed_out: list[Call] = []  # delivered, answer lost
        self._stall = 0.0
        self.stalling = asyncio.Event()  # set while a stalled call waits

    def chaos(self, *, seed: int = 0, retry_after: int = 1, hang: float = 1.0, **odds: float) -> None:
        """From now on each sending call meets a fault with these odds, e.g. chaos(**{"500": 0.1})."""
        assert set(odds) <= set(self.faults), odds
        self.odds, self.retry_after, self.hang, self.rng = odds, retry_after, hang, random.Random(seed)

    def stall_next(self, seconds: float) -> None:
        self._stall = seconds

    def calm(self) -> None:
        self.odds = {}

    def _draw(self) -> str | None:
        roll = self.rng.random()
        for fault, odds in self.odds.items():
            if roll < odds:
                return fault
            roll -= odds
        return None

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = _REQUEST.set(request)
        try:
            return await super()._handle_api(request)
        except _Hang:
            # No answer, then the connection goes: what the bot sees when a request times out.
            await asyncio.sleep(self.hang)
            if request.transport is not None:
                request.transport.abort()
            await asyncio.sleep(60)  # cancelled at once: the connection is gone (handler_cancellation)
            raise ConnectionResetError("answer lost") from None
        finally:
            _REQUEST.reset(token)

    async def _execute(
        self, method: str, params: dict[str, Any], via_webhook: bool = False
    ) -> tuple[int, dict[str, Any]]:
        if method in _SENDING and self._stall and not via_webhook:
            seconds, self._stall = self._stall, 0.0
            self.stalling.set()
            await asyncio.sleep(seconds)
            self.stalling.clear()
        fault = self._draw() if method in _SENDING and not via_webhook and _REQUEST.get() is not None else None
        if fault is not None:
            self.faults[fault] += 1
        if fault == "500":
            self.fail(1, status=500)  # taken by this call: nothing awaits before the base class checks it
        elif fault == "429":
            self.rate_limit(1, retry_after=self.retry_after)
        status, body = await super()._execute(method, params, via_webhook)
        if fault == "timeout" and status == 200:
            self.timed_out.append(self.calls[-1])
            raise _Hang
        return status, body
