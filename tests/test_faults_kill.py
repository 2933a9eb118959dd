"""kill -9 of `chidoan run` workers (Telegram webhook mode, one PostgreSQL, two workers behind one
address) at random moments while 100 people are in the middle of joining, each restarted at once:
no answer lost, each conversation goes on at its step, no reply queued twice. The platform posts
each update until it is acknowledged; a reply the fake Bot API received twice (a send under way
when its worker died) is counted as resent."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from chidoan.storage.db import make_db, upgrade
from tests.fake_telegram import FakeTelegram
from tests.faults.conversations import (
    STEPS,
    check_states,
    check_step,
    duplicate_replies,
    duplicate_rows,
    enrol,
    event_counts,
    in_flight,
    lost_answers,
    pending_replies,
    unexplained_resends,
    until_sent,
)
from tests.faults.front import Front
from tests.faults.platform import Deliveries, deliver

pytestmark = pytest.mark.postgres

CONVERSATIONS = 100
CONCURRENT = 20  # people typing at once
KILLS = 5
SENT_WITHIN = 90.0  # seconds after the last restart by which every reply is out


async def run_kill9(tmp_path, pg_url: str, conversations: int, kills: int, seed: int = 12) -> dict:
    """The scenario, for the test and bench/faults.py: returns its figures."""
    db = make_db(pg_url)
    upgrade(db)
    people = enrol(db, conversations)
    rng = random.Random(seed)
    seen = Deliveries()
    updates = conversations * len(STEPS)
    # Kill at these counts of acknowledged updates: spread over the traffic, whatever its speed.
    moments = sorted(rng.sample(range(updates // 20, updates - updates // 20), kills))
    async with FakeTelegram() as tg:
        async with Front(tmp_path, pg_url, tg, count=2) as front:
            slots = asyncio.Semaphore(CONCURRENT)

            async def converse(person) -> None:
                async with slots:
                    for step in range(len(STEPS)):
                        await deliver(tg, person.update(tg, step), front.webhook, seen)
                        check_step(db, person, step)  # its replies, once: the step it was at went on
                        person.done = step + 1

            async def killer() -> None:
                for n, moment in enumerate(moments):
                    while seen.acknowledged < moment:
                        await asyncio.sleep(0.01)
                    while not (alive := list(front.alive())):  # both down: wait for one to be back
                        assert not front.failed, front.failed
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(rng.uniform(0, 0.05))  # mid-request, mid-commit or mid-send
                    await front.kill9_and_restart(alive[n % len(alive)])

            began = time.monotonic()
            await asyncio.gather(killer(), *(converse(p) for p in people))
            took = time.monotonic() - began
            await front.settle()
            drained = await until_sent(db, SENT_WITHIN)
        resent = duplicate_replies(db, tg, people)
        flight = in_flight("".join(w.log.read_text() for w in front.workers))
        unexplained = unexplained_resends(db, tg, people, flight)

    events, distinct = event_counts(db)
    figures = {
        "conversations": conversations,
        "kills": front.kills,
        "lost": lost_answers(db, conversations),
        "duplicates": duplicate_rows(db, conversations),
        "resumed": sum(1 for p in people if p.done == len(STEPS)),
        "resent": resent,
        "unexplained": unexplained,
        "events": events,
        "acknowledged": seen.acknowledged,
        "refused": seen.refused,
        "took": took,
        "drained": drained,
        "starts": front.start_seconds,
    }
    check_states(db, people)
    assert pending_replies(db) == 0
    db.dispose()
    print(
        f"\nfault kill9: {conversations} conversations, {figures['kills']} kills, lost {figures['lost']}, "
        f"duplicates {figures['duplicates']}, resumed {figures['resumed']}; resent {resent} "
        f"({resent - unexplained} of rows logged in flight when their worker died); {seen.acknowledged} updates acknowledged, refused deliveries {seen.refused}; "
        f"{took:.1f} s, replies all out {drained:.1f} s later; worker starts "
        f"{', '.join(f'{s:.1f}' for s in figures['starts'])} s"
    )
    return figures


async def test_kill9_during_100_conversations(tmp_path, pg_url):
    figures = await run_kill9(tmp_path, pg_url, CONVERSATIONS, KILLS)
    assert figures["kills"] == KILLS
    assert figures["events"] == CONVERSATIONS * len(STEPS)  # each update stored once
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["resumed"] == CONVERSATIONS
    assert figures["unexplained"] == 0  # a message is sent again only if it was in flight
    # A dead sender's rows are taken over after its lease (10 s); headroom for a loaded machine.
    assert figures["drained"] < 35.0
