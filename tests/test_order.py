"""One person's updates are applied in the order Telegram numbered them, across workers (two Apps
on one PostgreSQL database, webhook mode, the fake Bot API; the database checked after):
- each of two workers gets one of two updates of one person at the same moment: the replies are
  queued in the updates' order (without the per-person order about half the pairs were swapped);
- an update waits while an earlier one of its person is stored and not handled yet;
- an earlier update whose worker died is waited for only so long; when it is delivered again it
  is applied late, not dropped."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels import base
from chidoan.engine.messages import Incoming
from chidoan.storage.models import InboundEvent, Outbox, table
from tests.conftest import free_port, make_settings
from tests.test_telegram import TgUser, rows

pytestmark = pytest.mark.postgres

TRIES = 25
OUT, EVENT = table(Outbox), table(InboundEvent)


def replies(db, chat_id: int) -> list[str]:
    """The replies queued for a chat, in the order they were queued."""
    return [r.body["text"] for r in rows(db, select(OUT).where(OUT.c.chat_id == str(chat_id)).order_by(OUT.c.id))]


async def workers(pg_url: str, tg, n: int = 2, settle_ms: int = 200) -> list[App]:
    """`settle_ms`: this test machine is shared and its one event loop runs both workers and the
    fake API, so two posts sent at once can reach their workers tens of ms apart."""
    public_url = "https://bot.example.vn/telegram/webhook"
    apps = [
        App(
            make_settings(
                pg_url,
                TELEGRAM_BOT_TOKEN=tg.token,
                TELEGRAM_API_URL=tg.base_url,
                CHIDOAN_WEB_PORT=free_port(),
                TELEGRAM_WEBHOOK_URL=public_url,
                CHIDOAN_WORKERS=n,
                CHIDOAN_TURN_SETTLE_MS=settle_ms,
            )
        )
        for _ in range(n)
    ]
    for app in apps:
        await app.start()
    return apps


async def test_two_updates_of_one_person_at_once_on_two_workers_are_applied_in_order(pg_url, tg):
    apps = await workers(pg_url, tg)
    urls = [f"http://127.0.0.1:{app.settings.web_port}/telegram/webhook" for app in apps]
    db = apps[0].db
    swapped = []
    try:
        for n in range(TRIES):
            user = TgUser(tg, db, 7000 + n, language="en")
            assert await tg.deliver_webhook(user.message("/start"), url=urls[0]) == 200  # known from now on
            before = len(replies(db, user.user_id))
            first, second = user.message("/help"), user.message("/start")
            first["update_id"] = tg._next_update_id  # numbered as Telegram would: /help first
            second["update_id"] = first["update_id"] + 1
            statuses = await asyncio.gather(
                tg.deliver_webhook(first, url=urls[n % 2]), tg.deliver_webhook(second, url=urls[1 - n % 2])
            )
            assert statuses == [200, 200]
            queued = replies(db, user.user_id)[before:]
            assert len(queued) == 2, queued  # nothing lost, nothing twice
            if "/help" not in queued[0]:  # the /help's answer names the commands; /start's does not
                swapped.append(n)
            handled = rows(
                db, select(EVENT).where(EVENT.c.event_id.in_([str(first["update_id"]), str(second["update_id"])]))
            )
            assert len(handled) == 2 and all(e.processed_at is not None and e.failed_at is None for e in handled)
    finally:
        for app in apps:
            await app.stop()
    print(f"order: {len(swapped)} of {TRIES} pairs applied swapped")
    assert swapped == []


def update_of(tg, user: TgUser, text: str) -> dict:
    update = user.message(text)
    update["update_id"] = tg._next_update_id
    tg._next_update_id += 1
    return update


def incoming_of(update: dict) -> Incoming:
    message = update["message"]
    return Incoming(
        channel="telegram",
        event_id=str(update["update_id"]),
        user_id=str(message["from"]["id"]),
        chat_id=str(message["chat"]["id"]),
        text=message["text"],
        accepted=True,
        number=update["update_id"],
    )


async def test_an_update_waits_for_an_earlier_one_stored_by_another_worker(pg_url, tg, monkeypatch):
    monkeypatch.setattr(base, "TURN_WAIT", 30.0)  # the later update must not go anyway while the test is slow
    apps = await workers(pg_url, tg, settle_ms=0)
    urls = [f"http://127.0.0.1:{app.settings.web_port}/telegram/webhook" for app in apps]
    db = apps[0].db
    try:
        user = TgUser(tg, db, 7100, language="en")
        assert await tg.deliver_webhook(user.message("/start"), url=urls[0]) == 200
        before = len(replies(db, user.user_id))
        first, second = update_of(tg, user, "/help"), update_of(tg, user, "/start")
        # Worker 0 has stored the first update (received) and not handled it yet.
        channel = apps[0].channels["telegram"]
        assert await channel.host.accept(incoming_of(first), "{}")
        later = asyncio.ensure_future(tg.deliver_webhook(second, url=urls[1]))
        await asyncio.sleep(0.5)
        assert not later.done() and len(replies(db, user.user_id)) == before  # waiting its turn
        assert await tg.deliver_webhook(first, url=urls[0]) == 200  # worker 0 goes on
        assert await later == 200
        queued = replies(db, user.user_id)[before:]
        assert len(queued) == 2 and "/help" in queued[0] and "/help" not in queued[1]
    finally:
        for app in apps:
            await app.stop()


async def test_an_earlier_update_whose_worker_died_is_applied_late_not_dropped(pg_url, tg, monkeypatch):
    monkeypatch.setattr(base, "TURN_WAIT", 0.5)
    apps = await workers(pg_url, tg, settle_ms=0)
    urls = [f"http://127.0.0.1:{app.settings.web_port}/telegram/webhook" for app in apps]
    db = apps[0].db
    try:
        user = TgUser(tg, db, 7200, language="en")
        assert await tg.deliver_webhook(user.message("/start"), url=urls[0]) == 200
        before = len(replies(db, user.user_id))
        first, second = update_of(tg, user, "/help"), update_of(tg, user, "/start")
        # Worker 0 stored the first update and died before handling it (no 200 to Telegram).
        assert await apps[0].channels["telegram"].host.accept(incoming_of(first), "{}")
        assert await tg.deliver_webhook(second, url=urls[1]) == 200  # waited, then went
        assert len(replies(db, user.user_id)) == before + 1
        assert await tg.deliver_webhook(first, url=urls[1]) == 200  # Telegram delivers it again
        queued = replies(db, user.user_id)[before:]
        assert len(queued) == 2 and "/help" in queued[1]
        assert await tg.deliver_webhook(first, url=urls[0]) == 200  # and again: a duplicate
        assert len(replies(db, user.user_id)) == before + 2
        handled = rows(
            db, select(EVENT).where(EVENT.c.event_id.in_([str(first["update_id"]), str(second["update_id"])]))
        )
        assert len(handled) == 2 and all(e.processed_at is not None for e in handled)
    finally:
        for app in apps:
            await app.stop()
