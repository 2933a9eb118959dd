"""Malformed and well-formed platform bodies through the real webhooks (Telegram, Zalo Bot, Zalo
Official Account) of an App served in-process (aiohttp's test server), and what each must lead
to: never a 500; a body that is no update refused (400); an update the channel cannot read kept
as failed (its sender told, when there is a private chat to tell); a person's message stored and
answered; nothing else stored. The App runs its processor and the Zalo OA channel (no sender, no
other channel's start: the platforms are not called), on an event loop of its own, so hypothesis
drives it from a plain function (`Served.post`)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels import zalo_bot
from chidoan.bot.channels.zalo_oa import read_event, signature
from chidoan.engine.dispatch import CHAT_ID_MAX
from chidoan.storage.db import make_db
from chidoan.storage.models import InboundEvent, Outbox
from tests.conftest import TOKEN, make_settings
from tests.fake_zalo_oa import APP_ID, SECRET
from tests.fuzz.harness import Tally

TELEGRAM_SECRET = "fuzz-telegram-secret"
ZALO_BOT_TOKEN = "1234:fuzz-zalo-bot"
ZALO_BOT_SECRET = "fuzz-zalo-bot-secret-0123456789"
EVENTS = InboundEvent.__table__
OUTBOX = Outbox.__table__
HANDLED_WITHIN = 30.0  # seconds a Zalo OA event (handled after its 200) gets


class Broken(AssertionError):
    """A webhook broke a property."""


@dataclass
class Served:
    app: App
    loop: asyncio.AbstractEventLoop
    client: TestClient
    db: Any  # our own engine: the App's SQLite connection belongs to its database thread
    tally: Tally = field(default_factory=Tally)

    @classmethod
    def start(cls, database_url: str, tally: Tally | None = None) -> Served:
        settings = make_settings(
            database_url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL="http://127.0.0.1:9",  # never called: the channel is not started
            TELEGRAM_WEBHOOK_URL="http://127.0.0.1/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
            ZALO_BOT_TOKEN=ZALO_BOT_TOKEN,
            ZALO_BOT_API_URL="http://127.0.0.1:9",
            ZALO_BOT_WEBHOOK_URL="http://127.0.0.1/zalo-bot/webhook",
            ZALO_BOT_WEBHOOK_SECRET=ZALO_BOT_SECRET,
            ZALO_OA_APP_ID=APP_ID,
            ZALO_OA_SECRET_KEY=SECRET,
            ZALO_OA_ACCESS_TOKEN="fuzz-oa-token",
            ZALO_OA_API_URL="http://127.0.0.1:9",
        )
        loop = asyncio.new_event_loop()
        app = App(settings)

        async def up() -> TestClient:
            await app.processor.start()
            await app.channels["zalo"].start()  # its catch-up: fresh events wait for it
            client = TestClient(TestServer(app.http_app()))
            await client.start_server()
            return client

        return cls(app, loop, loop.run_until_complete(up()), make_db(database_url), tally or Tally())

    def stop(self) -> None:
        async def down() -> None:
            await self.client.close()
            await self.app.channels["zalo"].stop()
            await self.app.processor.stop()
            await self.app.channels["telegram"].close()
            await self.app.channels["zalo_bot"].close()
            await self.app.channels["zalo"].close()
            self.app.db.dispose()
            self.db.dispose()

        self.loop.run_until_complete(down())
        self.loop.close()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async def call() -> tuple[int, str]:
            async with self.client.post(path, data=body, headers=headers) as response:
                return response.status, await response.text()

        return self.loop.run_until_complete(call())

    # ---- reads ------------------------------------------------------------------------------

    def event(self, channel: str, event_id: str):
        with self.db.connect() as conn:
            return conn.execute(
                select(EVENTS).where(EVENTS.c.channel == channel, EVENTS.c.event_id == event_id)
            ).first()

    def newest_reply(self) -> int:
        with self.db.connect() as conn:
            return conn.execute(select(OUTBOX.c.id).order_by(OUTBOX.c.id.desc()).limit(1)).scalar() or 0

    def replies(self, channel: str, chat_id: str, after: int) -> list[dict]:
        with self.db.connect() as conn:
            query = select(OUTBOX.c.body).where(
                OUTBOX.c.channel == channel, OUTBOX.c.chat_id == chat_id, OUTBOX.c.id > after
            )
            return list(conn.execute(query).scalars())

    def only_to(self, channel: str, chat: str | None, after: int) -> None:
        """What an update caused is said only in its sender's chat (nothing at all without one)."""
        with self.db.connect() as conn:
            query = select(OUTBOX.c.channel, OUTBOX.c.chat_id).where(OUTBOX.c.id > after).distinct()
            chats = {(row.channel, row.chat_id) for row in conn.execute(query)}
        if chats - {(channel, chat)}:
            self._fail(f"{channel}: a reply to another chat than {chat!r}: {chats}")

    def _fail(self, what: str, counter: str = "crashes") -> None:
        setattr(self.tally, counter, getattr(self.tally, counter) + 1)
        if len(self.tally.problems) < 20:  # kept: a replay may not reproduce it
            self.tally.problems.append(what)
        raise Broken(what)

    # ---- Telegram ---------------------------------------------------------------------------

    def telegram(self, body: Any) -> int:
        """POST the body; check what it led to. The status."""
        self.tally.cases += 1
        self.tally.events += 1
        raw = json.dumps(body).encode()
        update_id = body.get("update_id") if isinstance(body, dict) else None
        is_update = isinstance(update_id, int)
        seen = self.event("telegram", str(update_id)) if is_update else None
        after = self.newest_reply()
        status, text = self.post(
            "/telegram/webhook",
            raw,
            {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"},
        )
        if status >= 500:
            self._fail(f"telegram webhook answered {status} to {raw[:200]!r}")
        if not is_update:
            if status != 400:
                self._fail(f"telegram webhook answered {status}, not 400, to no update: {raw[:200]!r}")
            return status
        if status != 200:
            self._fail(f"telegram webhook answered {status} to an update: {raw[:200]!r}: {text[:200]}")
        if seen is not None:
            return status  # a delivery again: nothing more to check
        try:
            update = Update.model_validate(body)
        except ValidationError:
            self.only_to("telegram", _private_chat(body), after)
            return self._telegram_unreadable(body, update_id, after)
        self.only_to("telegram", _chat_of(update), after)
        self._telegram_read(update, update_id, after)
        return status

    def _telegram_unreadable(self, body: dict, update_id: int, after: int) -> int:
        row = self.event("telegram", str(update_id))
        if row is None or row.failed_at is None:
            self._fail(f"telegram update {update_id} unreadable but not kept as failed: {row}")
        chat = _private_chat(body)
        if _tellable(chat) and not self.replies("telegram", chat or "", after):
            self._fail(f"telegram update {update_id} kept as failed, its sender not told", "unanswered")
        return 200

    def _telegram_read(self, update: Update, update_id: int, after: int) -> None:
        """A person's private message or button is stored and answered; a block is stored."""
        message, callback = update.message, update.callback_query
        if message is not None and (message.chat.type != "private" or message.from_user is None):
            return  # not for the bot (a group), or not from a person: not handled
        if message is None and callback is None:
            return  # a fact (my_chat_member), an edit: recorded or left as designed
        row = self.event("telegram", str(update_id))
        if row is None:
            self._fail(f"telegram update {update_id} answered 200 but not stored")
        chat = _chat_of(update)
        if row.failed_at is None and not self.replies("telegram", chat or "", after):
            self._fail(f"telegram update {update_id} stored, not answered", "unanswered")

    # ---- Zalo Bot -----------------------------------------------------------------------------

    def zalo_bot(self, body: Any) -> int:
        self.tally.cases += 1
        self.tally.events += 1
        raw = json.dumps(body).encode()
        items = zalo_bot.updates_of(body)
        before = {i: self._zalo_bot_seen(u) for i, u in enumerate(items)}
        after = self.newest_reply()
        status, _ = self.post(
            "/zalo-bot/webhook", raw, {zalo_bot.SECRET_HEADER: ZALO_BOT_SECRET, "Content-Type": "application/json"}
        )
        if status != 200:
            self._fail(f"zalo bot webhook answered {status} to {raw[:200]!r}")
        for i, update in enumerate(items):
            if not before[i]:
                self._zalo_bot_update(update, after)
        if len(items) == 1:
            self.only_to("zalo_bot", _zalo_bot_chat(items[0]), after)
        return status

    def _zalo_bot_seen(self, update: Any) -> bool:
        try:
            parsed = zalo_bot.parse_update(update)
        except Exception:
            return self.event("zalo_bot", zalo_bot.unreadable(update).event_id) is not None
        return parsed is None or self.event("zalo_bot", parsed[0].event_id) is not None

    def _zalo_bot_update(self, update: Any, after: int) -> None:
        try:
            parsed = zalo_bot.parse_update(update)
        except Exception:
            stub = zalo_bot.unreadable(update)
            row = self.event("zalo_bot", stub.event_id)
            if row is None or row.failed_at is None:
                self._fail(f"zalo bot update unreadable but not kept as failed: {update!r:.200}")
            if _tellable(stub.chat_id) and not self.replies("zalo_bot", stub.chat_id, after):
                self._fail(f"zalo bot update kept as failed, its sender not told: {update!r:.200}", "unanswered")
            return
        if parsed is None:
            return  # a group chat
        incoming = parsed[0]
        row = self.event("zalo_bot", incoming.event_id)
        if row is None:
            self._fail(f"zalo bot update answered 200 but not stored: {update!r:.200}")
        if row.failed_at is None and not self.replies("zalo_bot", incoming.chat_id, after):
            self._fail(f"zalo bot message stored, not answered: {update!r:.200}", "unanswered")

    # ---- Zalo Official Account ------------------------------------------------------------------

    def zalo_oa(self, event: dict[str, Any]) -> int:
        self.tally.cases += 1
        self.tally.events += 1
        raw = json.dumps(event).encode()
        header = "mac=" + signature(APP_ID, raw, str(event["timestamp"]), SECRET)
        incoming = read_event(event)
        seen = incoming is not None and self.event("zalo", incoming.event_id) is not None
        after = self.newest_reply()
        status, _ = self.post("/zalo/webhook", raw, {"X-ZEvent-Signature": header, "Content-Type": "application/json"})
        if status != 200:
            self._fail(f"zalo webhook answered {status} to a signed event: {raw[:200]!r}")
        if incoming is None or seen:
            return status
        row = self._handled("zalo", incoming.event_id)
        if row is None:
            self._fail(f"zalo event {incoming.event_id} answered 200, not handled within {HANDLED_WITHIN} s")
        if incoming.fact is None and row.failed_at is None and not self.replies("zalo", incoming.chat_id, after):
            self._fail(f"zalo message {incoming.event_id} stored, not answered", "unanswered")
        self.only_to("zalo", incoming.chat_id, after)
        return status

    def _handled(self, channel: str, event_id: str):
        """Zalo OA events are handled after the 200: wait until this one is."""
        deadline = time.monotonic() + HANDLED_WITHIN
        while time.monotonic() < deadline:
            row = self.event(channel, event_id)
            if row is not None and (row.processed_at is not None or row.failed_at is not None):
                return row
            self.loop.run_until_complete(asyncio.sleep(0.005))
        return None


def _tellable(chat: str | None) -> bool:
    """Whether a failed event's sender is told: there is a chat, and its id fits (a clipped id
    would be someone else's: dispatch.Engine.keep_failed)."""
    return bool(chat) and len(chat or "") <= CHAT_ID_MAX


def _zalo_bot_chat(update: Any) -> str | None:
    try:
        parsed = zalo_bot.parse_update(update)
    except Exception:
        return zalo_bot.unreadable(update).chat_id or None
    return parsed[0].chat_id if parsed else None


def _chat_of(update: Update) -> str | None:
    """The chat a read update's replies go to (telegram.TelegramChannel._on_message, _on_callback)."""
    if update.callback_query is not None:
        callback = update.callback_query
        return str(callback.message.chat.id if callback.message else callback.from_user.id)
    if update.message is not None:
        return str(update.message.chat.id)
    return None


def _private_chat(body: dict) -> str | None:
    """The private chat an unreadable Telegram update came from, as the channel reads it
    (telegram._unreadable): an int user id whose private chat is the same id."""
    kind = next((k for k in body if k != "update_id"), "")
    part = body.get(kind) if kind in ("message", "callback_query") else None
    part = part if isinstance(part, dict) else {}
    user = part.get("from") if isinstance(part.get("from"), dict) else {}
    user_id = user.get("id")
    if not isinstance(user_id, int):
        return None
    holder = part.get("message") if kind == "callback_query" else part
    chat = holder.get("chat") if isinstance(holder, dict) else None
    chat = chat if isinstance(chat, dict) else {}
    return str(user_id) if chat.get("type") == "private" and chat.get("id") == user_id else None
