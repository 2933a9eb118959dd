"""The Bot API failing under load (one process, SQLite, long polling): sends answered 500, 429
with retry_after, or timing out (delivered, answer lost). Every reply is retried until sent:
none lost, none sent twice except a message whose answer was lost (the bot cannot know it
arrived; Telegram has no idempotency key), counted apart as `ambiguous`."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from chidoan.bot.app import App
from chidoan.storage.db import make_db
from chidoan.storage.models import Outbox, OutboxStatus
from tests.conftest import make_settings
from tests.faults.botapi import FaultyTelegram
from tests.faults.conversations import _counts

OUT = Outbox.__table__
PEOPLE = 100
FIRST_USER = 800_000
ODDS = {"500": 0.05, "429": 0.05, "timeout": 0.03}  # 13 % of sends meet one
SENT_WITHIN = 120.0  # a row failing 4 times running waits 2 + 4 + 8 + 16 s (the sender's backoff); doubled for load


def outbox_rows(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(OUT.c.chat_id, OUT.c.body, OUT.c.status, OUT.c.attempts).order_by(OUT.c.id)))


def pending(db) -> int:
    with db.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(OUT).where(OUT.c.status == OutboxStatus.pending)
        ).scalar_one()


async def run_botapi(database_url: str, people: int, odds: dict[str, float], seed: int = 5) -> dict:
    async with FaultyTelegram() as tg:
        settings = make_settings(
            database_url,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            TELEGRAM_RATE_PER_SECOND=100,
        )
        app = App(settings)
        db = make_db(database_url)  # the test's own: the app's one SQLite connection is its database thread's
        await app.start()
        try:
            tg.chaos(seed=seed, retry_after=1, hang=1.0, **odds)
            began = time.monotonic()
            for n in range(people):  # each asks twice: two replies queued per person
                for text in ("/start", "/trogiup"):
                    tg.push_update(tg.message_update(FIRST_USER + n, text, language_code="vi"))
            deadline = began + SENT_WITHIN
            while (waiting := pending(db)) or len(tg._updates) or not outbox_rows(db):
                assert time.monotonic() < deadline, f"{waiting} replies still pending after {SENT_WITHIN:.0f} s"
                await asyncio.sleep(0.2)
            took = time.monotonic() - began
            tg.calm()
            rows = outbox_rows(db)
        finally:
            await app.stop()
            db.dispose()

    got: dict[str, list[str]] = {}
    for call in tg.calls_of("sendMessage"):
        if call.status == 200:
            got.setdefault(str(call.params["chat_id"]), []).append(call.params["text"])
    unanswered = _counts([f"{c.params['chat_id']}\n{c.params['text']}" for c in tg.timed_out])
    lost = duplicates = ambiguous = 0
    for chat in {r.chat_id for r in rows}:
        queued = _counts([r.body["text"] for r in rows if r.chat_id == chat])
        delivered = _counts(got.get(chat, []))
        for text, copies in queued.items():
            extra = delivered.get(text, 0) - copies
            lost += max(0, -extra)
            explained = min(max(0, extra), unanswered.get(f"{chat}\n{text}", 0))
            ambiguous += explained
            duplicates += max(0, extra) - explained
    figures = {
        "replies": len(rows),
        "sent": sum(r.status == OutboxStatus.sent for r in rows),
        "faults": dict(tg.faults),
        "lost": lost,
        "duplicates": duplicates,
        "ambiguous": ambiguous,
        "took": took,
    }
    print(
        f"\nfault botapi: {len(rows)} replies to {people} people, {figures['sent']} sent; "
        f"answered 500: {tg.faults['500']}, 429: {tg.faults['429']}, timed out: {tg.faults['timeout']}; "
        f"lost {lost}, duplicates {duplicates}, ambiguous {ambiguous} (a timed-out send delivered, sent again); "
        f"all out in {took:.1f} s"
    )
    return figures


async def test_bot_api_500_429_and_timeouts_under_load(settings, db):
    figures = await run_botapi(settings.database_url, PEOPLE, ODDS)
    assert figures["replies"] == figures["sent"] == 2 * PEOPLE
    assert all(figures["faults"][fault] > 0 for fault in ODDS)
    assert figures["lost"] == 0 and figures["duplicates"] == 0


STALL = 15.0  # seconds one send to the Bot API takes


async def test_a_stalled_send_holds_up_no_other_chat(settings, db):
    """One send hangs (a slow Bot API, within aiogram's 60 s timeout): a reply queued meanwhile to
    somebody else goes out at once, not after it."""
    async with FaultyTelegram() as tg:
        app = App(make_settings(settings.database_url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url))
        await app.start()
        try:
            tg.stall_next(STALL)
            tg.push_update(tg.message_update(FIRST_USER, "/start", language_code="vi"))
            await asyncio.wait_for(tg.stalling.wait(), 20)
            began = time.monotonic()
            tg.push_update(tg.message_update(FIRST_USER + 1, "/start", language_code="vi"))
            await tg.wait_for(lambda calls: tg.sent_texts(FIRST_USER + 1), timeout=STALL + 10)
            waited = time.monotonic() - began
        finally:
            await app.stop()
    print(f"\nfault stall: one send held {STALL:.0f} s; another chat's reply waited {waited:.1f} s")
    assert waited < 10.0  # not behind the 15 s stall; headroom for a loaded machine
