"""The platform's side of a webhook: an update is delivered until the bot acknowledges it (a 2xx),
as Telegram does; a refused delivery (an error status, a refused or dropped connection, no answer
in time) is tried again after a pause."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fake_telegram import FakeTelegram

ANSWER_WITHIN = 20.0  # seconds the platform waits for a webhook's answer before giving up on it


@dataclass
class Deliveries:
    """What the platform saw: acknowledged updates, refused deliveries by why."""

    acknowledged: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1

    @property
    def refusals(self) -> int:
        return sum(self.refused.values())


async def deliver(
    tg: FakeTelegram,
    update: dict[str, Any],
    url: str,
    seen: Deliveries,
    *,
    pause: float = 0.2,
    within: float = 240.0,
) -> int:
    """Deliver `update` to `url` until it is acknowledged, the pause between tries doubling up to
    a second; returns how many tries it took. `within` is generous: a worker killed may take a
    minute to start again on a loaded machine."""
    deadline = asyncio.get_running_loop().time() + within
    tries = 0
    while True:
        tries += 1
        try:
            status = await asyncio.wait_for(tg.deliver_webhook(update, url=url), ANSWER_WITHIN)
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            seen.refuse(type(exc).__name__)
        else:
            if 200 <= status < 300:
                seen.acknowledged += 1
                return tries
            seen.refuse(f"HTTP {status}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"update {update['update_id']} not acknowledged within {within:.0f} s")
        await asyncio.sleep(pause)
        pause = min(1.0, pause * 2)
