"""Every update delivered three times, some of the copies at once to two workers (one
PostgreSQL, Telegram webhook mode): each update stored once, each reply queued once and received
once."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from chidoan.storage.db import make_db, upgrade
from tests.fake_telegram import FakeTelegram
from tests.faults.conversations import (
    REPLIES,
    STEPS,
    check_states,
    check_step,
    duplicate_replies,
    duplicate_rows,
    enrol,
    event_counts,
    lost_answers,
    received,
    until_sent,
)
from tests.faults.platform import Deliveries, deliver
from tests.faults.worker import webhook_app

pytestmark = pytest.mark.postgres

CONVERSATIONS = 50
COPIES = 3
SENT_WITHIN = 30.0


async def run_redelivery(pg_url: str, conversations: int, seed: int = 3) -> dict:
    db = make_db(pg_url)
    upgrade(db)
    people = enrol(db, conversations)
    rng = random.Random(seed)
    seen = Deliveries()
    together = 0  # updates whose copies went at once
    async with FakeTelegram() as tg:
        workers = [webhook_app(pg_url, tg) for _ in range(2)]
        for worker in workers:
            await worker.start()
        urls = [f"http://127.0.0.1:{w.settings.web_port}/telegram/webhook" for w in workers]
        try:

            async def converse(person) -> None:
                nonlocal together
                for step in range(len(STEPS)):
                    update = person.update(tg, step)
                    targets = [rng.choice(urls) for _ in range(COPIES)]
                    if rng.random() < 0.5:  # all copies at once, to either worker
                        together += 1
                        await asyncio.gather(*(deliver(tg, update, url, seen) for url in targets))
                    else:  # one after another (the 200 was lost, Telegram sends it again)
                        for url in targets:
                            await deliver(tg, update, url, seen)
                    check_step(db, person, step)
                    person.done = step + 1

            began = time.monotonic()
            await asyncio.gather(*(converse(p) for p in people))
            took = await until_sent(db, SENT_WITHIN + 60, began)
        finally:
            for worker in workers:
                await worker.stop()
        sent_twice = duplicate_replies(db, tg, people)
        delivered = sum(len(texts) for texts in received(tg).values())

    distinct = event_counts(db)[1]
    check_states(db, people)
    figures = {
        "updates": distinct,
        "deliveries": seen.acknowledged,
        "together": together,
        "duplicate_rows": duplicate_rows(db, conversations),
        "duplicate_replies": sent_twice,
        "delivered": delivered,
        "lost": lost_answers(db, conversations),
    }
    db.dispose()
    print(
        f"\nfault redelivery: {distinct} updates delivered {seen.acknowledged} times ({together} with their "
        f"{COPIES} copies at once, to 2 workers); duplicate rows {figures['duplicate_rows']}, duplicate replies "
        f"{sent_twice}, lost {figures['lost']}; {delivered} replies received of {REPLIES * conversations}; "
        f"{took:.1f} s"
    )
    return figures


async def test_every_update_delivered_three_times(pg_url):
    figures = await run_redelivery(pg_url, CONVERSATIONS)
    assert figures["updates"] == CONVERSATIONS * len(STEPS)
    assert figures["deliveries"] == COPIES * CONVERSATIONS * len(STEPS)
    assert figures["together"] > 0
    assert figures["duplicate_rows"] == 0 and figures["duplicate_replies"] == 0 and figures["lost"] == 0
    assert figures["delivered"] == REPLIES * CONVERSATIONS
