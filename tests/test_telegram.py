"""The Telegram channel end to end: chidoan's `App` with the real aiogram client, pointed at
`FakeTelegram` (tests/fake_telegram.py), in polling and webhook mode; the database is checked
afterwards.

`TgUser` is a person in a private chat with the bot, as `WebUser` is in the web chat: `say`,
`press` and `send_media` return the bot's replies to that action, read once the update is stored
and the outbox shows every reply to this chat as handled.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from chidoan.bot import app as app_module
from chidoan.bot.app import App
from chidoan.bot.channels.base import Limits, split_text
from chidoan.bot.channels.telegram import ALLOWED_UPDATES, MAX_TEXT
from chidoan.handlers import COMMANDS
from chidoan.handlers.invites import BOT_USERNAME_KEY
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import gettext
from chidoan.storage.models import (
    ChannelIdentity,
    ConversationStatus,
    InboundEvent,
    Outbox,
    OutboxStatus,
    Role,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import BOT_USERNAME, add_member, free_port, make_settings, new_invite
from tests.fake_telegram import Call, FakeTelegram

UNIT = "Đoàn phường Vĩnh Bảo"
E = InboundEvent.__table__
OUT = Outbox.__table__
IDENT = ChannelIdentity.__table__


# ---- plumbing ---------------------------------------------------------------------------


def tg_settings(settings, tg: FakeTelegram, **extra):
    """The test database, with the bot talking to the fake instead of api.telegram.org."""
    return make_settings(settings.database_url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url, **extra)


async def started_unpaced(app: App) -> App:
    """`app` started without Telegram's one message a second per chat, which would make a test
    that sends many messages to one chat slow."""
    app.channels["telegram"].limits = Limits()
    await app.start()
    return app


@pytest.fixture
async def bot_app(settings, org, tg):
    """The app in long-polling mode (no webhook URL)."""
    application = App(tg_settings(settings, tg))
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


async def until(check, timeout: float = 30.0, what: str = "condition"):
    """Poll `check()` (usually a database read) until it is truthy; return its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
    return result


def rows(db, stmt) -> list:
    with db.connect() as conn:
        return list(conn.execute(stmt))


def events(db, *event_ids: int) -> list:
    stmt = select(E).where(E.c.channel == "telegram").order_by(E.c.id)
    if event_ids:
        stmt = stmt.where(E.c.event_id.in_([str(i) for i in event_ids]))
    return rows(db, stmt)


def outbox(db, chat_id: int | str) -> list:
    return rows(db, select(OUT).where(OUT.c.channel == "telegram", OUT.c.chat_id == str(chat_id)).order_by(OUT.c.id))


def identity(db, user_id: int | str):
    [row] = rows(db, select(IDENT).where(IDENT.c.channel == "telegram", IDENT.c.external_id == str(user_id)))
    return row


def count(db, table) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def sent_to(tg: FakeTelegram, chat_id: int) -> list[Call]:
    """sendMessage calls to this chat that Telegram accepted (what the user actually received)."""
    return [c for c in tg.calls_of("sendMessage") if c.status == 200 and str(c.params["chat_id"]) == str(chat_id)]


def buttons_of(call: Call) -> list[dict]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


class TgUser:
    """A person in a private chat with the bot (chat id = user id, as on Telegram)."""

    def __init__(
        self,
        tg: FakeTelegram,
        db,
        user_id: int,
        first_name: str = "An",
        last_name: str | None = None,
        language: str = "en",
        webhook: bool = False,
    ):
        self.tg, self.db, self.user_id = tg, db, user_id
        self.first_name, self.last_name, self.language = first_name, last_name, language
        self.webhook = webhook
        self.last: list[Call] = []
        self._seen = len(sent_to(tg, user_id))

    # -- acting

    def message(self, text: str | None = None, **media) -> dict:
        return self.tg.message_update(
            self.user_id,
            text,
            first_name=self.first_name,
            last_name=self.last_name,
            language_code=self.language,
            **media,
        )

    async def say(self, text: str) -> list[Call]:
        return await self.send(self.message(text))

    async def send_media(self, caption: str | None = None, **media) -> list[Call]:
        return await self.send(self.message(caption, **media))

    async def press(self, label_part: str) -> list[Call]:
        """Press the button whose label contains `label_part`, on the newest reply that has one;
        the bot must answer the callback query (the spinner on the user's button stops)."""
        data = self.button(label_part)
        update = self.tg.callback_update(
            self.user_id, data, message_id=self._message_id_with(data), language_code=self.language
        )
        replies = await self.send(update)
        query_id = update["callback_query"]["id"]
        await self.tg.wait_for(
            lambda calls: any(
                c.method == "answerCallbackQuery" and c.params.get("callback_query_id") == query_id and c.status == 200
                for c in calls
            )
        )
        return replies

    async def send(self, update: dict) -> list[Call]:
        """Deliver the update (getUpdates or webhook), wait until it is stored, return the replies."""
        if self.webhook:
            assert await self.tg.deliver_webhook(update) == 200
            assert events(self.db, update["update_id"]), "the webhook answered 200 before the update was stored"
        else:
            self.tg.push_update(update)
            await until(lambda: events(self.db, update["update_id"]), what=f"update {update['update_id']} stored")
        return await self.replies()

    # -- reading

    async def replies(self) -> list[Call]:
        await until(
            lambda: all(r.status != OutboxStatus.pending for r in outbox(self.db, self.user_id)),
            what=f"replies to {self.user_id} handled",
        )
        calls = sent_to(self.tg, self.user_id)
        self.last, self._seen = calls[self._seen :], len(calls)
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(c.params["text"] for c in self.last)

    def button(self, label_part: str) -> str:
        for call in reversed(sent_to(self.tg, self.user_id)):  # the newest message with such a button
            for b in buttons_of(call):
                if label_part.casefold() in b["text"].casefold():
                    return b["callback_data"]
        raise AssertionError(f"no button {label_part!r} in {[c.params for c in sent_to(self.tg, self.user_id)]}")

    def _message_id_with(self, data: str) -> int:
        # The fake keeps every message of the chat; the press comes from the bot's newest one
        # that carries this button (its id is what Telegram would put in the callback query).
        ids = [
            message_id
            for (chat, message_id), m in self.tg._messages.items()
            if chat == self.user_id
            and m["from"]["id"] == self.tg.me["id"]
            and any(
                b.get("callback_data") == data
                for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            )
        ]
        assert ids, f"no bot message with button {data!r}"
        return max(ids)


def t(locale: str, msgid: str, **params) -> str:
    return gettext(locale, msgid, **params)


# ---- 1. polling: the whole onboarding ----------------------------------------------------


@pytest.mark.parametrize("language", ["en", "vi"])
async def test_onboarding_by_deep_link_in_polling_mode(bot_app, tg, db, language):
    code = new_invite(db, "RG-VB")
    role = t(language, ROLE_LABELS[Role.secretary])
    user = TgUser(tg, db, 1001, first_name="An", last_name="Nguyễn", language=language)

    # The t.me/<bot>?start=CODE link makes Telegram send "/start CODE".
    welcome, question = await user.say(f"/start {code}")
    welcome_text = t(
        language,
        "Welcome! This code makes you {role} of {unit} ({parents}). Two questions to confirm who you are.",
        role=role,
        unit=UNIT,
        parents="<parents>",
    )
    before, after = welcome_text.split("<parents>")
    assert welcome.params["text"].startswith(before) and welcome.params["text"].endswith(after)
    assert "Thành đoàn Rạch Giá" in welcome.params["text"] and "Tỉnh đoàn Kiên Giang" in welcome.params["text"]
    assert "reply_markup" not in welcome.params
    assert question.params["text"] == t(language, "What is your full name? (as it should appear on documents)")
    assert [b["text"] for b in buttons_of(question)] == ["An Nguyễn"]  # the Telegram name, offered
    assert "parse_mode" not in question.params  # users' words are never rendered as markup
    if language == "en":
        assert "makes you Secretary of Đoàn phường Vĩnh Bảo" in welcome.params["text"]

    await user.press("An Nguyễn")
    assert user.text.startswith(t(language, "What is your position? Press one or type it."))
    assert t(language, "Secretary") in [b["text"] for b in buttons_of(user.last[-1])]

    await user.say("Bí thư Đoàn phường")
    assert f"{t(language, 'Full name')}: An Nguyễn" in user.text
    assert f"{t(language, 'Position')}: Bí thư Đoàn phường" in user.text
    confirm = t(language, "✅ Confirm")
    assert confirm in [b["text"] for b in buttons_of(user.last[-1])]

    await user.press(confirm)
    assert user.text == t(
        language, "Done! You are now {role} of {unit}. Type /help to see what you can do.", role=role, unit=UNIT
    )
    if language == "en":
        assert user.text.startswith("Done! You are now Secretary of Đoàn phường Vĩnh Bảo.")
    else:  # Telegram's language_code picked the Vietnamese texts
        assert "Bí thư" in user.text and user.text != t(
            "en", "Done! You are now {role} of {unit}. Type /help to see what you can do.", role="Secretary", unit=UNIT
        )

    # Every button press was answered, through the Bot API (polling mode: no webhook reply).
    answers = tg.calls_of("answerCallbackQuery")
    assert [(a.status, a.via_webhook) for a in answers] == [(200, False), (200, False)]
    # Nothing failed on the way.
    assert all(c.status == 200 for c in tg.calls if c.method != "getUpdates")

    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("telegram", "1001")
        assert (sender.chat_id, sender.display_name, sender.reachable) == ("1001", "An Nguyễn", True)
        account = uow.accounts.get(sender.account_id)
        assert (account.full_name, account.position, account.locale) == ("An Nguyễn", "Bí thư Đoàn phường", language)
        assert [(r.role, r.code) for r in uow.roles.active_of(sender.account_id)] == [("secretary", "RG-VB")]
        invite = uow.invites.by_code(code)
        assert invite.used_by == sender.account_id and invite.used_at is not None
        [conversation] = uow.conversations.history(sender.account_id)
        assert conversation.status == ConversationStatus.completed
        assert conversation.data["a"] == {"full_name": "An Nguyễn", "position": "Bí thư Đoàn phường"}
        stored = uow.events.of_account(sender.account_id)
    # Every update was confirmed by the offset of a later getUpdates.
    await tg.wait_for(lambda calls: any(c.method == "getUpdates" and (c.params.get("offset") or 0) > 4 for c in calls))
    assert [(e.kind, e.text) for e in stored] == [
        ("text", f"/start {code}"),
        ("button", None),
        ("text", "Bí thư Đoàn phường"),
        ("button", None),
    ]
    assert [e.event_id for e in stored] == ["1", "2", "3", "4"]  # Telegram's update ids
    assert stored[1].payload.endswith(".s:0") and stored[3].payload.endswith(".ok")


async def test_start_publishes_the_command_menu_per_language(bot_app, tg, db):
    assert len(tg.calls_of("getMe")) >= 1
    names = [
        "start",
        "trogiup",
        "toi",
        "dangky",
        "kehoach",
        "trangthai",
        "sinhhoat",
        "doithoai",
        "baocao",
        "nhacnho",
        "chuanop",
        "hanchot",
        "duyet",
        "donvi",
        "xem",
        "baocaohuyen",
        "quyetdinh",
        "xuat",
        "moi",
        "lienket",
        "dulieu",
        "ngonngu",
        "huy",
    ]
    for locale in ("vi", "en"):
        menu = tg.my_commands(locale)
        assert [c["command"] for c in menu] == names
        assert [c["description"] for c in menu] == [t(locale, c.description) for c in COMMANDS if c.menu]
    assert tg.my_commands("en")[0]["description"] == "start, or join with an invite code"
    assert tg.my_commands("") == tg.my_commands("vi")  # everyone else: the default language
    # Polling mode: no webhook left behind, only the updates the bot handles asked for.
    assert tg.calls_of("deleteWebhook") and not tg.calls_of("setWebhook") and tg.webhook_url is None
    polls = await tg.wait_for(lambda calls: [c for c in calls if c.method == "getUpdates"])
    assert polls[0].params["allowed_updates"] == ALLOWED_UPDATES
    with unit_of_work(db) as uow:
        assert uow.kv.get(BOT_USERNAME_KEY) == BOT_USERNAME  # used in invite links


# ---- 2. webhook mode ----------------------------------------------------------------------


@pytest.fixture
async def webhook_app(settings, org, tg):
    port = free_port()
    application = App(
        tg_settings(
            settings,
            tg,
            CHIDOAN_WEB_PORT=port,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET="s3cret-Token_42",
        )
    )
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


async def test_webhook_mode(webhook_app, tg, db):
    [hook] = tg.calls_of("setWebhook")
    assert hook.params["url"] == f"http://127.0.0.1:{webhook_app.settings.web_port}/telegram/webhook"
    assert hook.params["secret_token"] == "s3cret-Token_42"
    assert hook.params["allowed_updates"] == ALLOWED_UPDATES
    assert tg.webhook_url == hook.params["url"]
    assert not tg.calls_of("getUpdates") and not tg.calls_of("deleteWebhook")

    code = new_invite(db, "RG-VB")
    user = TgUser(tg, db, 2002, first_name="Lê Bình", language="en", webhook=True)  # a full name (issue 11)

    # Wrong or missing secret: refused, nothing stored, nothing said.
    for secret in ("wrong", ""):
        assert await tg.deliver_webhook(user.message(f"/start {code}"), secret=secret) == 401
    assert count(db, E) == 0 and count(db, OUT) == 0
    assert not tg.calls_of("sendMessage")

    # The right secret: the 200 comes back only once the update is stored (TgUser.send checks).
    start = user.message(f"/start {code}")
    await user.send(start)
    assert "Welcome! This code makes you Secretary of Đoàn phường Vĩnh Bảo" in user.text
    assert [c.params["text"] for c in user.last][-1].startswith("What is your full name?")

    # Telegram delivers it again (say, our 200 was lost): stored once, answered once.
    before = (count(db, E), len(outbox(db, 2002)))
    assert await tg.deliver_webhook(start) == 200
    assert (count(db, E), len(outbox(db, 2002))) == before
    assert await user.replies() == []
    assert sum(text.startswith("Welcome!") for text in tg.sent_texts(2002)) == 1
    assert len(events(db, start["update_id"])) == 1

    # A button press: the answerCallbackQuery rides on the webhook's HTTP answer.
    await user.press("Lê Bình")
    assert user.text.startswith("What is your position?")
    [answer] = tg.calls_of("answerCallbackQuery")
    assert (answer.status, answer.via_webhook) == (200, True)

    await user.say("Phó Bí thư")
    await user.press("Confirm")
    assert user.text.startswith("Done! You are now Secretary of Đoàn phường Vĩnh Bảo.")
    assert [(a.status, a.via_webhook) for a in tg.calls_of("answerCallbackQuery")] == [(200, True), (200, True)]
    assert not tg.calls_of("getUpdates")

    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("telegram", "2002")
        assert [r.code for r in uow.roles.active_of(sender.account_id)] == ["RG-VB"]
        assert uow.invites.by_code(code).used_by == sender.account_id
        stored = uow.events.of_account(sender.account_id)
    assert [e.kind for e in stored] == ["text", "button", "text", "button"]
    assert len({e.event_id for e in stored}) == 4 and count(db, E) == 4


# ---- 3. restart mid-journey ---------------------------------------------------------------


async def test_restart_mid_journey_resumes_at_the_position_step(settings, org, db, tg):
    code = new_invite(db, "RG-VB")
    user = TgUser(tg, db, 3003, first_name="Hà", last_name="Đặng Thu", language="en")

    first = App(tg_settings(settings, tg))
    await first.start()
    try:
        await user.say(f"/start {code}")
        await user.say("Đặng Thu Hà")
        assert user.text.startswith("What is your position?")
        last_update = tg._next_update_id - 1
        # The next getUpdates confirms the name update: Telegram will not send it again.
        await tg.wait_for(
            lambda calls: any(c.method == "getUpdates" and (c.params.get("offset") or 0) > last_update for c in calls)
        )
    finally:
        await first.stop()
    polls_before = len(tg.calls_of("getUpdates"))

    second = App(tg_settings(settings, tg))  # a new process: nothing in memory, all from the database
    await second.start()
    try:
        await user.say("Phó Bí thư")  # taken as the answer to the position question
        assert "Full name: Đặng Thu Hà" in user.text and "Position: Phó Bí thư" in user.text
        await user.press("Confirm")
        assert user.text.startswith("Done! You are now Secretary of Đoàn phường Vĩnh Bảo.")
        assert len(tg.calls_of("getUpdates")) > polls_before
    finally:
        await second.stop()

    texts = tg.sent_texts(3003)
    assert len(texts) == len(set(texts)) == 5  # welcome, name, position, summary, done: none twice
    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("telegram", "3003")
        account = uow.accounts.get(sender.account_id)
        assert (account.full_name, account.position) == ("Đặng Thu Hà", "Phó Bí thư")
        [conversation] = uow.conversations.history(sender.account_id)
        assert conversation.status == ConversationStatus.completed
        assert [e.text for e in uow.events.of_account(sender.account_id)][:3] == [
            f"/start {code}",
            "Đặng Thu Hà",
            "Phó Bí thư",
        ]


# ---- 4. not text where text is expected ---------------------------------------------------


async def test_stickers_photos_and_voice_get_a_text_only_reply(bot_app, tg, db):
    code = new_invite(db, "RG-VB")
    user = TgUser(tg, db, 4004, first_name="Cường", language="en")
    await user.say(code)
    name_question = user.last[-1].params["text"]

    for media, word in (("sticker", "sticker"), ("photo", "photo"), ("voice", "voice message")):
        await user.send_media(**{media: True})
        polite, again = user.last
        assert polite.params["text"] == f"I can only read text here, not a {word}. Please type your answer."
        assert again.params["text"] == name_question  # the same question again, with its buttons
        assert [b["text"] for b in buttons_of(again)] == ["Cường"]
    await user.send_media("Lê Văn Cường", photo=True)  # a caption is not an answer either
    assert user.last[0].params["text"].startswith("I can only read text here, not a photo.")

    await user.say("Lê Văn Cường")
    assert user.text.startswith("What is your position?")

    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("telegram", "4004")
        stored = uow.events.of_account(sender.account_id)
        assert [(e.kind, e.text) for e in stored] == [
            ("text", code),
            ("sticker", None),
            ("photo", None),
            ("voice", None),
            ("photo", None),
            ("text", "Lê Văn Cường"),
        ]
        assert uow.conversations.active(sender.account_id).step == "position"


async def test_media_outside_a_conversation(bot_app, tg, db):
    user = TgUser(tg, db, 4005, language="en")
    await user.send_media(sticker=True)
    assert user.text == "I can only read text messages. Type /help to see what you can do."
    [event] = events(db)
    assert event.kind == "sticker"


# ---- 5. users who blocked the bot ---------------------------------------------------------


async def test_blocked_user_is_marked_unreachable_when_a_send_fails(bot_app, tg, db):
    """The old secretary blocked the bot; the hand-over notice to them is refused (403)."""
    add_member(db, "5005", "Lê Văn Cường", "RG-VB", Role.secretary, channel="telegram")
    tg.block(5005)
    code = new_invite(db, "RG-VB")
    new = TgUser(tg, db, 5006, first_name="Ngô Thị Hoa", language="en")  # a full name (issue 11)
    await new.say(code)
    await new.press("Ngô Thị Hoa")
    await new.say("Bí thư")
    await new.press("Confirm")
    assert new.text.startswith("Done! You are now Secretary")

    [notice] = await until(
        lambda: [r for r in outbox(db, 5005) if r.status != OutboxStatus.pending], what="notice handled"
    )
    assert notice.status == OutboxStatus.unreachable
    assert "blocked" in notice.error and notice.sent_at is None
    [refused] = [c for c in tg.calls_of("sendMessage") if c.params["chat_id"] == 5005]
    assert refused.status == 403  # the notice, in the old secretary's language
    assert refused.params["text"] == t(
        "vi",
        "{name} is now the secretary of {unit}. Your secretary access to this unit has ended. Thank you for your work!",
        name="Ngô Thị Hoa",
        unit=UNIT,
    )
    old = identity(db, 5005)
    assert old.reachable is False and old.unreachable_since is not None
    assert identity(db, 5006).reachable is True


async def test_block_update_marks_unreachable_until_the_user_writes_again(bot_app, tg, db):
    user = TgUser(tg, db, 5007, first_name="Dũng", language="en")
    await user.say("/start")
    assert "invite code" in user.text

    blocked = tg.push_update(tg.blocked_update(5007))
    await until(lambda: not identity(db, 5007).reachable, what="identity unreachable")
    assert identity(db, 5007).unreachable_since is not None
    # Recorded as a fact of the platform, not as something the user said, and not answered.
    [fact] = events(db, blocked["update_id"])
    assert (fact.kind, fact.text, fact.payload) == ("blocked", None, None)

    tg.unblock(5007)  # the user unblocks and writes again
    await user.say("/toi")
    assert "Name:" in user.text
    again = identity(db, 5007)
    assert again.reachable is True and again.unreachable_since is None


async def test_unblock_update_makes_the_person_reachable_again_without_a_word(bot_app, tg, db):
    user = TgUser(tg, db, 5008, first_name="Hà", language="en")
    await user.say("/start")
    tg.push_update(tg.blocked_update(5008))
    await until(lambda: not identity(db, 5008).reachable, what="identity unreachable")
    sent_before = len(tg.calls_of("sendMessage"))

    unblocked = tg.push_update(tg.unblocked_update(5008))
    await until(lambda: identity(db, 5008).reachable, what="identity reachable again")
    assert identity(db, 5008).unreachable_since is None
    assert [e.kind for e in events(db, unblocked["update_id"])] == ["unblocked"]
    await asyncio.sleep(0.3)
    assert len(tg.calls_of("sendMessage")) == sent_before  # a fact is not answered


# ---- 6. flood control ---------------------------------------------------------------------


async def test_rate_limited_reply_arrives_after_retry_after(bot_app, tg, db):
    user = TgUser(tg, db, 6006, language="en")
    tg.rate_limit(1, retry_after=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await user.say("/start")
    took = loop.time() - began
    assert "invite code" in user.text
    attempts = [c for c in tg.calls_of("sendMessage") if c.params["chat_id"] == 6006]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[0].params["text"] == attempts[1].params["text"]
    assert took >= 0.9  # it waited for retry_after before trying again
    [row] = outbox(db, 6006)
    assert row.status == OutboxStatus.sent and row.attempts == 2 and row.sent_at is not None
    assert "Retry in 1 seconds" in row.error


# ---- 7. long texts ------------------------------------------------------------------------


def test_split_text_short_text_is_one_part():
    assert split_text("Xin chào", MAX_TEXT) == ["Xin chào"]
    assert split_text("x" * MAX_TEXT, MAX_TEXT) == ["x" * MAX_TEXT]


def test_split_text_cuts_at_line_breaks():
    lines = [f"{i:03d}. Chi đoàn Khu phố {i} — đã nộp báo cáo tháng" for i in range(300)]
    text = "\n".join(lines)
    parts = split_text(text, MAX_TEXT)
    assert len(parts) > 1 and all(0 < len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts) == text  # no line is cut, nothing is lost
    assert all(p.split("\n")[-1] in lines for p in parts)


def test_split_text_without_line_breaks_cuts_hard():
    text = "ư" * (2 * MAX_TEXT + 10)
    parts = split_text(text, MAX_TEXT)
    assert [len(p) for p in parts] == [MAX_TEXT, MAX_TEXT, 10]
    assert "".join(parts) == text


def test_split_text_leaves_no_blank_part():
    # Telegram refuses an empty message; the refusal made the sender resend the whole row.
    text = "x" * 4000 + "\n" * 200
    parts = split_text(text, MAX_TEXT)
    assert parts == [text[:4095]] and all(p.strip() for p in parts)


def queue_long_message(db, chat_id: str, account_id: int, text: str, buttons: list | None = None) -> None:
    """Put a message straight into the outbox, as a long report would be."""
    body = {"text": text} | ({"buttons": buttons} if buttons else {})
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.outbox.add_many(
            [
                {
                    "channel": "telegram",
                    "chat_id": chat_id,
                    "account_id": account_id,
                    "body": body,
                    "status": OutboxStatus.pending,
                    "attempts": 0,
                    "not_before": now,
                    "created_at": now,
                    "dedupe_key": None,
                    "sent_at": None,
                    "error": None,
                }
            ]
        )


LONG_TEXT = "\n".join(f"{i:03d}. Chi đoàn Khu phố {i} — chưa nộp báo cáo tháng 5" for i in range(250))


async def test_long_reply_goes_out_in_parts_with_the_keyboard_on_the_last(bot_app, tg, db):
    account_id = add_member(db, "7007", "Trần Thị Bình", "RG", Role.district_staff, channel="telegram")
    text = LONG_TEXT
    assert len(text) > 2 * MAX_TEXT
    queue_long_message(db, "7007", account_id, text, [[{"label": "Nhắc tất cả", "payload": "remind:all"}]])
    bot_app.sender.wake()
    [row] = await until(lambda: [r for r in outbox(db, 7007) if r.status != OutboxStatus.pending], what="long row sent")
    assert row.status == OutboxStatus.sent and row.attempts == 1

    parts = sent_to(tg, 7007)
    assert len(parts) == len(split_text(text, MAX_TEXT)) >= 3
    assert "\n".join(c.params["text"] for c in parts) == text
    assert all(len(c.params["text"]) <= MAX_TEXT for c in parts)
    assert [bool(buttons_of(c)) for c in parts] == [False] * (len(parts) - 1) + [True]
    assert [b["callback_data"] for b in buttons_of(parts[-1])] == ["remind:all"]


# ---- 8. groups ----------------------------------------------------------------------------


async def test_group_messages_are_ignored(bot_app, tg, db):
    group = tg.push_update(tg.message_update(8008, "/start", chat_id=-1001234567890, language_code="en"))
    group_text = tg.push_update(tg.message_update(8008, "Nguyễn Văn A", chat_id=-1001234567890, language_code="en"))
    # Updates are handled in order: once this private one is stored, the group ones were seen.
    user = TgUser(tg, db, 8008, language="en")
    await user.say("/start")
    assert "invite code" in user.text

    assert not events(db, group["update_id"], group_text["update_id"])
    assert [e.text for e in events(db)] == ["/start"]
    assert not [c for c in tg.calls_of("sendMessage") if c.params["chat_id"] == -1001234567890]
    assert not outbox(db, -1001234567890)
    assert count(db, IDENT) == 1  # only the private chat made an account


async def test_flood_control_in_the_middle_of_a_long_message_sends_no_part_twice(bot_app, tg, db):
    account_id = add_member(db, "7008", "Trần Thị Bình", "RG", Role.district_staff, channel="telegram")
    send_message = tg._methods["sendMessage"]

    async def limit_after_the_first(params):  # Telegram's per-chat limit hits the second part
        result = await send_message(params)
        if len(tg.calls_of("sendMessage")) == 1:
            tg.rate_limit(1, retry_after=1)
        return result

    tg._methods["sendMessage"] = limit_after_the_first
    queue_long_message(db, "7008", account_id, LONG_TEXT)
    bot_app.sender.wake()
    [row] = await until(lambda: [r for r in outbox(db, 7008) if r.status != OutboxStatus.pending], what="long row sent")
    assert row.status == OutboxStatus.sent and row.attempts == 1

    assert [c.status for c in tg.calls_of("sendMessage")] == [200, 429] + [200] * (
        len(split_text(LONG_TEXT, MAX_TEXT)) - 1
    )
    delivered = [c.params["text"] for c in sent_to(tg, 7008)]
    assert delivered == split_text(LONG_TEXT, MAX_TEXT)  # each part once, in order


# ---- storage failures: no update is lost ---------------------------------------------------


def fail_writes(app: App, times: int) -> None:
    """The next `times` writes of the processor fail as if the database were unavailable."""
    write = app.processor._write
    left = [times]

    def flaky(batch):
        if left[0] > 0:
            left[0] -= 1
            raise OperationalError("INSERT INTO inbound_event", {}, Exception("database is locked"))
        return write(batch)

    app.processor._write = flaky


async def test_polling_does_not_lose_an_update_the_database_refused(bot_app, tg, db):
    """aiogram confirms an update with the next getUpdates even when its handler failed; the
    channel stores it again instead, and later updates wait their turn."""
    fail_writes(bot_app, 1)
    user = TgUser(tg, db, 9009, language="en")
    first = tg.push_update(user.message("/start"))
    await user.say("/toi")
    assert [e.event_id for e in events(db)] == [str(first["update_id"]), str(first["update_id"] + 1)]
    texts = tg.sent_texts(9009)
    assert len(texts) == 2 and "invite code" in texts[0] and texts[1].startswith("Name:")


@pytest.mark.postgres
async def test_workers_of_one_bot_share_the_webhook_secret(pg_url, tg):
    """No TELEGRAM_WEBHOOK_SECRET: two workers of one bot behind one public URL (each on its own
    port, one PostgreSQL database) derive the same secret from the token, so whichever
    `setWebhook` came last, Telegram's deliveries are accepted by both (a random secret per
    process made the other worker answer 401)."""
    public_url = "https://bot.example.vn/telegram/webhook"
    workers = [
        App(
            make_settings(
                pg_url,
                TELEGRAM_BOT_TOKEN=tg.token,
                TELEGRAM_API_URL=tg.base_url,
                CHIDOAN_WEB_PORT=free_port(),
                TELEGRAM_WEBHOOK_URL=public_url,
            )
        )
        for _ in range(2)
    ]
    for worker in workers:
        await worker.start()
    try:
        db = workers[0].db
        for n, worker in enumerate(workers):
            url = f"http://127.0.0.1:{worker.settings.web_port}/telegram/webhook"
            update = TgUser(tg, db, 3100 + n, language="en").message("/start")
            assert await tg.deliver_webhook(update, url=url, secret="wrong") == 401
            assert await tg.deliver_webhook(update, url=url) == 200  # the secret Telegram was given
            assert len(events(db, update["update_id"])) == 1
        secrets = {c.params["secret_token"] for c in tg.calls_of("setWebhook")}
        assert secrets == {workers[0].channels["telegram"].webhook_secret}
        assert len(secrets.pop()) == 64  # hex: within Telegram's allowed characters
    finally:
        for worker in workers:
            await worker.stop()


async def test_webhook_answers_500_when_the_update_could_not_be_stored(webhook_app, tg, db):
    fail_writes(webhook_app, 1)
    user = TgUser(tg, db, 9010, language="en", webhook=True)
    update = user.message("/start")
    assert await tg.deliver_webhook(update) == 500  # Telegram will deliver it again
    assert not events(db) and count(db, OUT) == 0
    await user.send(update)  # and so it does: stored, answered once
    assert "invite code" in user.text and len(tg.sent_texts(9010)) == 1


# ---- shutdown -------------------------------------------------------------------------------


async def stop_with_a_reply_pending(settings, tg, db) -> App:
    application = App(tg_settings(settings, tg))
    await application.start()
    try:
        await application.sender.stop()  # the reply stays in the outbox until App.stop drains it
        update = tg.push_update(tg.message_update(9011, "/start", language_code="en"))
        await until(lambda: events(db, update["update_id"]), what="update stored")
        assert outbox(db, 9011)[0].status == OutboxStatus.pending
    finally:
        await application.stop()
    return application


async def test_shutdown_delivers_the_replies_still_queued(settings, org, tg, db):
    await stop_with_a_reply_pending(settings, tg, db)
    [row] = outbox(db, 9011)
    assert row.status == OutboxStatus.sent
    assert "invite code" in tg.sent_texts(9011)[0]


async def test_shutdown_leaves_no_open_telegram_session(settings, org, tg, db):
    application = await stop_with_a_reply_pending(settings, tg, db)
    session = application.channels["telegram"].bot.session._session
    assert session is None or session.closed


def test_channels_are_the_configured_plug_ins(settings):
    from chidoan.bot.channels import configured
    from chidoan.bot.channels.base import Host

    def names(**extra) -> set[str]:
        chosen = make_settings(settings.database_url, **extra)
        return set(configured(Host(chosen, processor=None)))  # building a channel sends nothing

    assert names() == {"web"}
    assert names(TELEGRAM_BOT_TOKEN="7001002003:x") == {"web", "telegram"}
    assert names(CHIDOAN_WEB_ENABLED=False) == set()


async def test_no_update_is_routed_through_a_thread(settings, tg):
    """aiogram runs a filter or handler that is not a coroutine (a magic filter such as
    `F.chat.type == "private"` too) on a thread: a hop there and back for every update, which cost
    more than the rest of the routing (bench/pipeline.py). Every one of ours is a coroutine."""
    from chidoan.bot.channels.base import Host
    from chidoan.bot.channels.telegram import TelegramChannel

    channel = TelegramChannel(Host(tg_settings(settings, tg), processor=None, commands=[]))
    try:
        checked = 0
        for router in channel.dispatcher.chain_tail:
            for observer in router.observers.values():
                for handler in [observer._handler, *observer.handlers]:  # the router's filters, the handlers'
                    for callable_ in [handler, *(handler.filters or [])]:
                        if handler is observer._handler and callable_ is handler:
                            continue  # aiogram's own placeholder, never called
                        assert callable_.awaitable, callable_.callback
                        checked += 1
        assert checked >= 4  # the private-chat filter and the three handlers
    finally:
        await channel.bot.session.close()


async def test_telegram_unreachable_at_start_leaves_the_service_running_and_starts_later(
    settings, org, tg, monkeypatch
):
    """Telegram blocked or down when the service starts: the web chat and the rest run, and the
    channel starts once Telegram answers (before, `chidoan run` exited with a traceback)."""
    monkeypatch.setattr(app_module, "CHANNEL_RETRY", (0.05, 0.1))
    execute, refusals = tg._execute, [3]

    async def down_at_first(method, params, via_webhook=False):
        if method.lower() == "getme" and refusals[0] > 0:
            refusals[0] -= 1
            return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
        return await execute(method, params, via_webhook)

    monkeypatch.setattr(tg, "_execute", down_at_first)
    port = free_port()
    app = App(tg_settings(settings, tg, CHIDOAN_WEB_PORT=port, TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/tg"))
    await app.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        await tg.wait_for(lambda calls: [c for c in calls if c.method == "setWebhook"], timeout=5)
        assert refusals == [0]
    finally:
        await app.stop()
