"""The Zalo Bot Platform channel end to end: chidoan's `App` with the real channel code, pointed at
`FakeZaloBot` (tests/fake_zalo_bot.py), in polling and webhook mode; the database is checked
afterwards.

`ZaloUser` is a person in a private chat with the bot: `say` returns the bot's replies, read once
the update is stored and every reply to this chat is handled; `choose` types the number the
last prompt shows beside a label, as a person on Zalo does (there are no buttons).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

import aiohttp
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels import zalo_bot
from chidoan.bot.channels.base import Limits, split_text
from chidoan.bot.channels.zalo_bot import MAX_TEXT, ZaloBotChannel
from chidoan.engine.dispatch import FAILED_APOLOGY, outbox_row
from chidoan.engine.messages import Button, Outgoing, Typed, numbered_text, reply_hint
from chidoan.engine.typed import match
from chidoan.i18n import gettext
from chidoan.storage.models import ConversationStatus, InboundEvent, Outbox, OutboxStatus, RegistrationStatus, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, free_port, make_settings, new_invite
from tests.fake_zalo_bot import FakeZaloBot
from tests.test_registration import TASKS, clock_at
from tests.test_telegram import fail_writes, rows, until

E = InboundEvent.__table__
OUT = Outbox.__table__
UNIT = "Đoàn phường Vĩnh Bảo"
SECRET = "zalo-webhook-secret-0123456789"


# ---- plumbing ---------------------------------------------------------------------------


@pytest.fixture
async def zalo():
    async with FakeZaloBot() as fake:
        yield fake


@pytest.fixture
def unpaced(monkeypatch):
    """A whole journey at Zalo's pace would take a minute: pacing is not what these tests check."""
    monkeypatch.setattr(ZaloBotChannel, "limits", Limits())


def zalo_settings(settings, zalo: FakeZaloBot, **extra):
    return make_settings(settings.database_url, ZALO_BOT_TOKEN=zalo.token, ZALO_BOT_API_URL=zalo.base_url, **extra)


@pytest.fixture
async def polling_app(settings, org, zalo, unpaced):
    application = App(zalo_settings(settings, zalo))
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest.fixture
async def webhook_app(settings, org, zalo, unpaced):
    port = free_port()
    application = App(
        zalo_settings(
            settings,
            zalo,
            CHIDOAN_WEB_PORT=port,
            ZALO_BOT_WEBHOOK_URL=f"http://127.0.0.1:{port}/zalo-bot/webhook",
            ZALO_BOT_WEBHOOK_SECRET=SECRET,
        )
    )
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


def events(db, *event_ids: str) -> list:
    stmt = select(E).where(E.c.channel == "zalo_bot").order_by(E.c.id)
    if event_ids:
        stmt = stmt.where(E.c.event_id.in_(event_ids))
    return rows(db, stmt)


def outbox(db, chat_id: str) -> list:
    return rows(db, select(OUT).where(OUT.c.channel == "zalo_bot", OUT.c.chat_id == chat_id).order_by(OUT.c.id))


def message_id(update: dict) -> str:
    return update["message"]["message_id"]


class ZaloUser:
    def __init__(self, zalo: FakeZaloBot, db, user_id: str, name: str = "An", webhook: bool = False):
        self.zalo, self.db, self.user_id, self.name, self.webhook = zalo, db, user_id, name, webhook
        self.last: list[str] = []
        self._seen = len(zalo.sent_texts(user_id))

    async def say(self, text: str) -> list[str]:
        return await self.send(self.zalo.text_update(self.user_id, text, name=self.name))

    async def send(self, update: dict, wrapped: bool = False) -> list[str]:
        if self.webhook:
            assert await self.zalo.deliver_webhook(update, wrapped=wrapped) == 200
            assert events(self.db, message_id(update)), "the webhook answered 200 before the update was stored"
        else:
            self.zalo.push({"ok": True, "result": update} if wrapped else update)
            await until(lambda: events(self.db, message_id(update)), what=f"update {message_id(update)} stored")
        return await self.replies()

    async def replies(self) -> list[str]:
        await until(
            lambda: all(r.status != OutboxStatus.pending for r in outbox(self.db, self.user_id)),
            what=f"replies to {self.user_id} handled",
        )
        texts = self.zalo.sent_texts(self.user_id)
        self.last, self._seen = texts[self._seen :], len(texts)
        return self.last

    def number(self, label_part: str) -> str:
        """The number the newest listed prompt shows beside a label containing `label_part`."""
        for text in reversed(self.zalo.sent_texts(self.user_id)):
            listed = re.findall(r"^(\d+)\. (.+)$", text, re.MULTILINE)
            for number, label in listed:
                if label_part.casefold() in label.casefold():
                    return number
            if listed:
                break
        raise AssertionError(f"no option {label_part!r} in {self.last}")

    async def choose(self, label_part: str) -> list[str]:
        return await self.say(self.number(label_part))

    @property
    def text(self) -> str:
        return "\n".join(self.last)


def t(locale: str, msgid: str, **params) -> str:
    return gettext(locale, msgid, **params)


# ---- polling: onboarding and a whole plan, choices typed as numbers ------------------------


async def test_onboarding_and_a_whole_registration_by_typed_numbers(settings, org, db, zalo, unpaced):
    staff = add_member(db, "staff-web", "Trần Thị Bình", "RG", Role.district_staff)
    code = new_invite(db, "RG-VB")
    app = App(zalo_settings(settings, zalo), clock=clock_at(2026, 10, 10, 9, 0))
    await app.start()
    try:
        user = ZaloUser(zalo, db, "8001234567890123456", name="Nguyễn Văn An")
        await user.say("/start")
        assert len(user.last) == 1  # the welcome asks for the invite code
        await user.say(code)
        assert "Bí thư" in user.text and UNIT in user.text
        question = user.last[-1]
        # No buttons on Zalo: the offered name is listed with its number, and how to answer.
        assert "1. Nguyễn Văn An" in question and question.endswith(reply_hint("vi", 1, Typed.text))
        await user.choose("Nguyễn Văn An")
        await user.choose(t("vi", "Secretary"))
        assert f"{t('vi', 'Full name')}: Nguyễn Văn An" in user.text
        await user.choose(t("vi", "✅ Confirm").lstrip("✅ "))
        assert user.text == t(
            "vi",
            "Done! You are now {role} of {unit}. Type /help to see what you can do.",
            role=t("vi", "Secretary"),
            unit=UNIT,
        )
        await user.say("/ngonngu")
        await user.choose("English")
        assert user.text == "Language set to English."

        sent = await register_by_numbers(user)
        assert "submitted (version 1), on time" in user.text
        # The plan document cannot travel on Zalo: the text says where to get it.
        assert "Zalo cannot carry the file" in user.text and ".docx" in user.text and "/kehoach" in user.text
    finally:
        await app.stop()
    assert sent < 45

    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("zalo_bot", "8001234567890123456")
        account = uow.accounts.get(sender.account_id)
        assert (account.full_name, account.position, account.locale) == ("Nguyễn Văn An", "Bí thư", "en")
        assert [(r.role, r.code) for r in uow.roles.active_of(sender.account_id)] == [("secretary", "RG-VB")]
        assert uow.invites.by_code(code).used_by == sender.account_id
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, "three_proactives_2023_2027", 2027)
        assert (registration.status, registration.on_time) == (RegistrationStatus.submitted, True)
        [version] = uow.registrations.versions(registration.id)
        assert [task["item"] for task in version.data["area1"]] == ["1.1", "1.4"]
        assert version.data["area1"][1]["who"] == "Ban Thường vụ" and version.data["area1"][1]["when"] == "Quý II"
        assert version.data["purpose"] and version.data["implementation"]
        stored = uow.events.of_account(sender.account_id)
        [onboarding, *_] = uow.conversations.history(sender.account_id)
        assert onboarding.status == ConversationStatus.completed
    # Typed numbers reached the engine as typed; it took each for the button it numbered (the
    # offered name, Secretary: the account above has them, not the words "1").
    assert [(e.kind, e.text, e.payload) for e in stored[:4]] == [
        ("text", "/start", None),
        ("text", code, None),
        ("text", "1", None),
        ("text", "1", None),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{20}", e.event_id) for e in stored)  # Zalo's message ids
    # The district is told on its own channel (the web chat here); nothing failed on the way.
    notices = [r.body["text"] for r in rows(db, select(OUT).where(OUT.c.account_id == staff))]
    assert len(notices) == 2 and "Nguyễn Văn An" in notices[0] and "2027" in notices[1]
    assert all(c.status in (200, 408) for c in zalo.calls)
    assert all(len(c.params["text"]) <= MAX_TEXT for c in zalo.calls_of("sendMessage"))


async def register_by_numbers(user: ZaloUser) -> int:
    """Walk the "3 chủ động" journey as test_registration.register does, typing every choice."""
    sent = 0

    async def say(text):
        nonlocal sent
        sent += 1
        return await user.say(text)

    async def choose(label):
        nonlocal sent
        sent += 1
        return await user.choose(label)

    await say("/dangky")
    assert "which year" in user.text  # in October both the current and the next year are open
    # Years are numbered like any choice, as the engine numbers them; typing the year itself is
    # typing its label, which the engine takes too (a number of four digits is no option's).
    assert user.text.endswith("\n\n1. 2027\n2. 2026\n\nReply 1 or 2.")
    await say("2027")
    for area, area_tasks in TASKS.items():
        assert f"Area {area} of 3" in user.text
        for index, (item, what, when) in enumerate(area_tasks):
            await choose(item)
            await say(what)
            await say(when)
            await choose("Ban Thường vụ")
            # Navigation at a text step is never a number (a bare number there is the answer): its words.
            assert user.text.endswith("\n• « Back\n• Skip")
            await say("skip")  # a navigation button's word, as the engine reads it on every channel
            assert f"Add another task to area {area}?" in user.text
            await choose("Yes, add another" if index < len(area_tasks) - 1 else "No, continue")
    assert "Section I" in user.text
    await choose("Use the suggested text")
    assert "Section III" in user.text
    await choose("Use the suggested text")
    assert "Please check your answers" in user.text
    await choose("Submit the plan")
    return sent


def prompt_of(message: Outgoing) -> dict:
    """The question as the engine remembers it (engine/typed.py `remember`)."""
    buttons = [[[b.label, b.payload] for b in row] for row in message.buttons]
    return {"text": message.text, "buttons": buttons, "typed": str(message.typed)}


def test_a_number_answer_is_not_taken_for_a_choice():
    """Where the question wants a number, Back and Skip are bulleted, not numbered, so "2" stays
    an answer; their words still press them. Elsewhere the numbers are the engine's."""
    message = Outgoing(
        "How many members?",
        buttons=[[Button("« Back", "j:5.3.back"), Button("Skip", "j:5.3.skip")]],
        typed=Typed.value,
    ).with_hint("en")
    assert numbered_text(message) == (
        "How many members?\n\n• « Back\n• Skip\n\nType your answer, or the words of an option."
    )
    body = prompt_of(message)
    assert match(body, "2") is None  # the answer, not the second button
    assert match(body, "back") == match(body, "quay lại") and match(body, "back").payload == "j:5.3.back"
    assert match(body, "skip").payload == "j:5.3.skip"
    choice = Outgoing("Kind?", buttons=[[Button("1. Regular", "j:5.3.v:r")], [Button("2. Topic", "j:5.3.v:t")]])
    numbered = numbered_text(choice.with_hint("vi"))
    assert "1. Regular\n2. Topic" in numbered and "1. 1." not in numbered
    assert numbered.endswith(reply_hint("vi", 2))
    assert [match(prompt_of(choice), n).payload for n in ("1", "2")] == ["j:5.3.v:r", "j:5.3.v:t"]


# ---- webhook mode ----------------------------------------------------------------------------


async def test_webhook_mode_with_its_secret_and_both_envelopes(webhook_app, zalo, db):
    [hook] = zalo.calls_of("setWebhook")
    assert hook.params == {
        "url": f"http://127.0.0.1:{webhook_app.settings.web_port}/zalo-bot/webhook",
        "secret_token": SECRET,
    }
    assert not zalo.calls_of("getUpdates") and not zalo.calls_of("deleteWebhook")

    code = new_invite(db, "RG-VB")
    user = ZaloUser(zalo, db, "9001", name="Lê Bình", webhook=True)  # a full name (issue 11)
    for secret in ("wrong", SECRET[:-1], ""):  # refused, nothing stored, nothing said
        assert await zalo.deliver_webhook(zalo.text_update("9001", code), secret=secret) == 403
    assert events(db) == [] and outbox(db, "9001") == []

    start = zalo.text_update("9001", code, name="Lê Bình")
    await user.send(start)  # bare
    assert UNIT in user.text
    await user.send(zalo.text_update("9001", "1", name="Lê Bình"), wrapped=True)  # in {ok, result}
    assert user.text.startswith(t("vi", "What is your position? Press one or type it."))

    # The same message again (Zalo delivering twice): stored once, answered once.
    before = (len(events(db)), len(outbox(db, "9001")))
    assert await zalo.deliver_webhook(start) == 200
    assert await zalo.deliver_webhook(start, wrapped=True) == 200
    assert (len(events(db)), len(outbox(db, "9001"))) == before
    assert await user.replies() == []

    # A body that is not JSON is a 400, and nothing is stored.
    async with aiohttp.ClientSession() as http:
        response = await http.post(zalo.webhook_url, data=b"{not json", headers={"X-Bot-Api-Secret-Token": SECRET})
        assert response.status == 400
    assert len(events(db)) == before[0]
    with unit_of_work(db) as uow:
        sender = uow.accounts.sender("zalo_bot", "9001")
        # "1" is stored as typed; the engine took it for the offered name (the next question came).
        assert [(e.kind, e.text) for e in uow.events.of_account(sender.account_id)] == [("text", code), ("text", "1")]


def test_a_webhook_without_a_secret_is_refused_at_start(settings):
    with pytest.raises(ValidationError, match="ZALO_BOT_WEBHOOK_SECRET"):
        make_settings(settings.database_url, ZALO_BOT_TOKEN="1:x", ZALO_BOT_WEBHOOK_URL="https://x.vn/zalo-bot/webhook")
    assert make_settings(settings.database_url, ZALO_BOT_TOKEN="1:x").zalo_bot_webhook_url is None


# ---- polling: envelopes, duplicates, unreadable updates ------------------------------------


async def test_polling_takes_both_envelopes_lists_and_drops_duplicates(polling_app, zalo, db):
    user = ZaloUser(zalo, db, "7001")
    first = zalo.text_update("7001", "/start")
    await user.send(first, wrapped=True)
    assert len(user.last) == 1
    again = await user.send(first)  # the same message_id, bare this time
    assert again == [] and len(events(db)) == 1

    zalo.batch = True  # getUpdates answering a list
    second, third = zalo.text_update("7001", "/toi"), zalo.text_update("7001", "/trogiup")
    zalo.push(second)
    zalo.push(third)
    await until(lambda: len(events(db)) == 3, what="the list stored")
    assert [e.event_id for e in events(db)] == [message_id(u) for u in (first, second, third)]
    assert zalo.calls_of("deleteWebhook") and not zalo.calls_of("setWebhook")


async def test_an_empty_poll_is_no_error(polling_app, zalo, db, caplog):
    await until(lambda: zalo.long_polls, what="the first long poll waiting")  # the next one: 408 at once
    zalo.fail("getUpdates", 408, "Request timeout")
    zalo.push(zalo.text_update("7002", "/start"))  # ends the waiting poll; the 408 comes next
    user = ZaloUser(zalo, db, "7002")
    await user.say("/toi")
    assert [c.status for c in zalo.calls_of("getUpdates")][:3] == [200, 408, 200]
    assert len(events(db)) == 2 and "getUpdates failed" not in caplog.text


async def test_an_unreadable_update_is_kept_as_failed_and_polling_goes_on(polling_app, zalo, db):
    broken = {
        "event_name": "message.text.received",
        "message": {"message_id": "dead0001", "from": {"id": "7100"}, "chat": {"id": "7100", "chat_type": "PRIVATE"}},
    }
    nonsense = {"hello": "world"}  # no event, no message, no id: kept under a digest of itself
    zalo.push(broken)
    zalo.push(nonsense)
    user = ZaloUser(zalo, db, "7100")
    await user.say("/start")
    [failed, other, ok] = events(db)
    assert (failed.event_id, failed.kind, failed.failed_at is not None) == ("dead0001", "unreadable", True)
    assert "message.text" in failed.error and '"dead0001"' in failed.raw
    assert other.event_id.startswith("#") and other.failed_at is not None
    assert ok.kind == "text" and ok.failed_at is None
    # The sender of the broken one got the apology, then the answer to /start.
    assert zalo.sent_texts("7100")[0] == t("vi", FAILED_APOLOGY)


async def test_polling_backs_off_on_errors_and_stops_cleanly(settings, org, db, zalo, unpaced, caplog):
    zalo.fail("getUpdates", 502, "Bad Gateway", times=2)
    app = App(zalo_settings(settings, zalo))
    await app.start()
    loop = asyncio.get_running_loop()
    try:
        user = ZaloUser(zalo, db, "7200")
        began = loop.time()
        await user.say("/start")
        assert loop.time() - began >= 2.5  # waited 1 s, then 2 s
        polls = zalo.calls_of("getUpdates")
        assert [c.status for c in polls[:3]] == [502, 502, 200] and len(user.last) == 1
        assert "getUpdates failed (502: Bad Gateway)" in caplog.text and zalo.token not in caplog.text
        await until(lambda: zalo.long_polls, what="the next long poll waiting")
    finally:
        began = loop.time()
        await app.stop()  # the long poll under way (30 s) is given up at once: it holds no update
    assert loop.time() - began < 15  # not the poll's 30 s; headroom for a loaded machine
    assert app.channels["zalo_bot"]._polling is None


async def test_webhook_answers_500_when_the_update_could_not_be_stored(webhook_app, zalo, db):
    fail_writes(webhook_app, 1)
    user = ZaloUser(zalo, db, "7210", webhook=True)
    update = zalo.text_update("7210", "/start")
    assert await zalo.deliver_webhook(update) == 500  # Zalo may deliver it again
    assert events(db) == [] and outbox(db, "7210") == []
    await user.send(update)  # and so it does: stored, answered once
    assert len(user.last) == 1 and len(zalo.sent_texts("7210")) == 1


async def test_polling_stores_again_an_update_the_database_refused(polling_app, zalo, db):
    """The update has left Zalo's queue: it is stored again, and later updates wait their turn."""
    fail_writes(polling_app, 1)
    user = ZaloUser(zalo, db, "7220")
    first = zalo.push(zalo.text_update("7220", "/start"))
    await user.say("/toi")
    assert [e.event_id for e in events(db)][0] == message_id(first) and len(events(db)) == 2


async def test_group_chats_and_stickers(polling_app, zalo, db):
    zalo.push(zalo.text_update("7300", "/start", chat_type="GROUP"))
    user = ZaloUser(zalo, db, "7300")
    await user.send(zalo.sticker_update("7300"))
    assert user.text == t("vi", "I can only read text messages. Type /help to see what you can do.")
    assert [e.kind for e in events(db)] == ["sticker"]


# ---- sending ---------------------------------------------------------------------------------


async def test_a_long_summary_is_split_under_2000_characters_with_nothing_lost(polling_app, zalo, db):
    account_id = add_member(db, "7400", "Trần Thị Bình", "RG", Role.district_staff, channel="zalo_bot")
    text = "\n".join(f"{i:03d}. Chi đoàn Khu phố {i} — chưa nộp báo cáo tháng 5 năm 2027" for i in range(60))
    assert len(text) > 3000
    message = Outgoing(text, buttons=[[Button("Nhắc tất cả", "remind:all")]]).with_hint("vi")
    with unit_of_work(db) as uow:  # as a long report to the district would be queued
        uow.outbox.add_many([outbox_row("zalo_bot", "7400", account_id, message, datetime.now(UTC))])
    polling_app.sender.wake()
    [row] = await until(lambda: [r for r in outbox(db, "7400") if r.status != OutboxStatus.pending], what="sent")
    assert row.status == OutboxStatus.sent
    parts = zalo.sent_texts("7400")
    assert len(parts) >= 2 and all(len(p) <= MAX_TEXT for p in parts)
    rendered = text + "\n\n1. Nhắc tất cả\n\n" + reply_hint("vi", 1)  # numbered_text, its hint from the row
    assert rendered == numbered_text(message)
    assert parts == split_text(rendered, MAX_TEXT) and "\n".join(parts) == rendered


async def test_a_meeting_report_with_photos_downloaded_within_the_limit(settings, org, db, zalo, unpaced):
    add_member(db, "7500", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, channel="zalo_bot", locale="en")
    app = App(zalo_settings(settings, zalo, CHIDOAN_MAX_FILE_KB="1"))
    await app.start()
    try:
        user = ZaloUser(zalo, db, "7500", name="Dũng")
        await user.say("/sinhhoat")
        await user.say("hôm nay")
        await user.choose("Regular")
        await user.say("Sinh hoạt chi đoàn tháng 11")
        # A number question: Back is bulleted, nothing is numbered, so "12" is the answer.
        assert "\n• « Back\n" in user.text and "\n1. " not in user.text
        assert user.text.endswith(reply_hint("en", 1, Typed.value))
        await user.say("12")
        await user.say("10")
        await user.say("Bầu Bí thư chi đoàn")
        await user.say("skip")
        await user.say("skip")
        small = b"\xff\xd8\xff\xe0 fake jpeg"
        await user.send(zalo.image_update("7500", zalo.add_image(small), caption="biên bản"))
        assert "Received 1 of at most 10" in user.text
        await user.send(zalo.image_update("7500", zalo.add_image(b"\xff\xd8" + b"x" * 3000)))  # over 1 KB
        assert "too big: files up to 1 MB" in user.text
        await user.send(zalo.image_update("7500", zalo.base_url + "/images/gone.jpg"))  # cannot be fetched
        assert "Please send a photo or a scan" in user.text
        await user.choose("Done")
        assert "Members: 12" in user.text and "Present: 10" in user.text
        await user.choose("Send the report")
        assert "10 of 12 members present, 1 file(s) attached" in user.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB-KP1")
        [report] = uow.reports.of_unit(unit.id, "meeting")
        [photo] = uow.reports.latest_data(report.id)["photos"]
        document = uow.documents.one(photo["document"])
        content = uow.documents.content(document)
    assert content == small and document.source.startswith(zalo.base_url + "/images/")
    assert [e.kind for e in events(db) if e.kind in ("photo", "too_big")] == ["photo", "too_big", "photo"]


async def test_the_photo_step_asks_for_no_press_and_a_report_without_photos_says_none(polling_app, zalo, db):
    """Nothing can be pressed on the Zalo Bot: the photo step says "chọn" (its options are
    numbered under it); and the summary of a report sent without photos says "(không có)"."""
    add_member(db, "7700", "Phạm Minh Dũng", "RG-VB-KP1", Role.secretary, channel="zalo_bot")
    user = ZaloUser(zalo, db, "7700", name="Dũng")
    await user.say("/sinhhoat")
    await user.say("hôm nay")
    await user.choose("Định kỳ")
    await user.say("Sinh hoạt chi đoàn tháng 11")
    await user.say("12")
    await user.say("10")
    await user.say("Bầu Bí thư chi đoàn")
    await user.say("bo qua")
    await user.say("bo qua")
    [prompt] = user.last
    assert prompt.startswith("Gửi ảnh biên bản sinh hoạt") and "chọn “Xong”" in prompt and "chọn “Bỏ qua”" in prompt
    assert "bấm" not in prompt.casefold() and "\n1. ✅ Xong\n" in prompt
    await user.choose("Xong")
    assert "Ảnh: (không có)" in user.text and "0 tệp" not in user.text


async def test_dulieu_names_the_zalo_bot_as_people_know_it(polling_app, zalo, db):
    add_member(db, "7600", "Lê Thị Cúc", "RG-VB", Role.secretary, channel="zalo_bot")
    user = ZaloUser(zalo, db, "7600", name="Cúc")
    await user.say("/dulieu")
    assert "Tài khoản Zalo Bot: 7600 (tên hiển thị: " in user.text
    assert "Zalo_bot" not in user.text


# ---- start ---------------------------------------------------------------------------------------


async def test_start_warns_of_the_basic_plan_and_of_too_many_users(settings, org, db, zalo, caplog):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        for i in range(51):
            uow.accounts.create_with_identity(
                channel="zalo_bot", external_id=f"u{i}", chat_id=f"u{i}", display_name=None, locale="vi", now=now
            )
    caplog.set_level(logging.WARNING, logger="chidoan.bot.channels.zalo_bot")
    app = App(zalo_settings(settings, zalo))
    await app.start()
    await app.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("about 50 users per bot and 3000 messages a month" in w and "not a province" in w for w in warnings)
    assert any("51 people already use this bot" in w for w in warnings)
    assert zalo.token not in caplog.text
    assert zalo.calls_of("getMe")


def test_the_channel_is_built_only_with_a_token(settings):
    from chidoan.bot.channels import configured
    from chidoan.bot.channels.base import Host

    def names(**extra) -> set[str]:
        return set(configured(Host(make_settings(settings.database_url, **extra), processor=None)))

    assert names() == {"web"}
    assert names(ZALO_BOT_TOKEN="1:x") == {"web", "zalo_bot"}
    assert zalo_bot.build(Host(make_settings(settings.database_url), processor=None)) is None


# ---- the /dulieu copy --------------------------------------------------------------------


def data_trail(db, account_id: int) -> list[tuple[str, dict]]:
    from chidoan.storage.models import PrivacyAction

    acts = PrivacyAction.__table__
    with db.connect() as conn:
        found = conn.execute(select(acts.c.action, acts.c.detail).where(acts.c.account_id == account_id))
        return [(r.action, r.detail) for r in found]


def data_copies(db) -> int:
    from chidoan.storage.models import Document

    docs = Document.__table__
    with db.connect() as conn:
        return len(conn.execute(select(docs.c.id).where(docs.c.kind == "data_export")).all())


@pytest.mark.parametrize("public_url", [None, "https://chidoan.example.vn"])
async def test_the_data_copy_on_the_zalo_bot_needs_a_public_address(settings, org, zalo, unpaced, db, public_url):
    """The Zalo Bot carries no file: /dulieu's copy reaches it only as a download link. Without
    CHIDOAN_PUBLIC_URL no copy is made and none is recorded as exported (the trail keeps the
    request, not delivered), and the reply says whom to ask, with no word of plans or /kehoach."""
    cuong = add_member(db, "z-cuong", "Lê Văn Cường", "RG-VB", Role.secretary, channel="zalo_bot")
    extra = {"CHIDOAN_PUBLIC_URL": public_url} if public_url else {}
    app = App(zalo_settings(settings, zalo, **extra))
    await app.start()
    try:
        user = ZaloUser(zalo, db, "z-cuong", name="Cuong")
        await user.say("/dulieu")
        said = await user.choose("bản sao")
        await app.jobs.settled()
        said += await user.replies()
        text = "\n".join(said)
        if public_url:
            assert f"{public_url}/files/" in text and "chidoan-data-" in text
            assert data_copies(db) == 1 and [a for a, _d in data_trail(db, cuong)] == ["exported"]
        else:
            assert "Zalo không gửi được tệp bản sao dữ liệu" in text and "quản trị viên" in text
            assert "/dulieu trên Telegram" in text and "http" not in text
            assert "kehoach" not in text and "kế hoạch" not in text and "Đang chuẩn bị" not in text
            assert data_copies(db) == 0
            assert data_trail(db, cuong) == [("export_failed", {"channel": "zalo_bot", "why": "no CHIDOAN_PUBLIC_URL"})]
    finally:
        await app.stop()
