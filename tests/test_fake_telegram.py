"""The Telegram fake, exercised through the real aiogram client."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fake_telegram import Call, FakeTelegram, UploadedFile

TOKEN = "4242:fake-token"


def make_bot(tg: FakeTelegram, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))


@pytest.fixture
async def tg():
    async with FakeTelegram(token=TOKEN, username="chidoan_test_bot") as fake:
        yield fake


@pytest.fixture
async def bot(tg):
    bot = make_bot(tg)
    yield bot
    await bot.session.close()


KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Có", callback_data="yes"), InlineKeyboardButton(text="Không", callback_data="no")]
    ]
)


async def test_get_me(bot):
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (4242, True, "chidoan_test_bot")


async def test_wrong_token_is_unauthorized(tg):
    other = make_bot(tg, token="4242:wrong")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await other.get_me()
    finally:
        await other.session.close()


async def test_unknown_method_is_404_and_json_bodies_work(tg):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot{TOKEN}/sendTelepathy", json={"chat_id": 1}) as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        async with http.post(f"{tg.base_url}/bot{TOKEN}/SENDMESSAGE", json={"chat_id": 7, "text": "123"}) as resp:
            assert (await resp.json())["result"]["text"] == "123"
    assert tg.calls_of("sendMessage")[0].params == {"chat_id": 7, "text": "123"}


async def test_send_message_records_decoded_keyboard(tg, bot):
    first = await bot.send_message(chat_id=100, text="Bạn có đồng ý?", reply_markup=KEYBOARD)
    second = await bot.send_message(chat_id=100, text="true")  # stays a string: text is never JSON-decoded
    other_chat = await bot.send_message(chat_id=200, text="Chào")

    assert isinstance(first, Message)
    assert (first.message_id, second.message_id, other_chat.message_id) == (1, 2, 1)
    assert first.chat.id == 100 and first.chat.type == "private" and first.from_user.username == "chidoan_test_bot"
    assert first.reply_markup.model_dump() == KEYBOARD.model_dump()  # == would also compare the bound bot
    params = tg.calls_of("sendMessage")[0].params
    assert params["chat_id"] == 100
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Có", "callback_data": "yes"}, {"text": "Không", "callback_data": "no"}]]
    }
    assert tg.sent_texts() == ["Bạn có đồng ý?", "true", "Chào"]
    assert tg.sent_texts(chat_id=100) == ["Bạn có đồng ý?", "true"]


async def test_send_message_rejects_what_telegram_rejects(bot):
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(chat_id=1, text="đ" * 4097)
    await bot.send_message(chat_id=1, text="😀" * 4096)  # the limit counts characters, not UTF-16 units
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        button = InlineKeyboardButton(text="x", callback_data="đ" * 33)  # 66 bytes
        await bot.send_message(chat_id=1, text="hi", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))


async def test_edit_message_text_and_markup(tg, bot):
    sent = await bot.send_message(chat_id=5, text="Chọn", reply_markup=KEYBOARD)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(chat_id=5, message_id=sent.message_id, text="Chọn", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text(chat_id=5, message_id=sent.message_id, text="Đã chọn")
    assert edited.text == "Đã chọn" and edited.reply_markup is None  # no reply_markup drops the keyboard
    again = await bot.edit_message_reply_markup(chat_id=5, message_id=sent.message_id, reply_markup=KEYBOARD)
    assert again.reply_markup.model_dump() == KEYBOARD.model_dump()
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(chat_id=5, message_id=99, text="?")
    assert await bot.delete_message(chat_id=5, message_id=sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(chat_id=5, message_id=sent.message_id)


async def test_get_updates_offset_confirms_for_good(tg, bot):
    first = tg.push_update(tg.message_update(1, "/start"))
    second = tg.push_update(tg.message_update(1, "xin chào"))
    assert second["update_id"] == first["update_id"] + 1

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first["update_id"], second["update_id"]]
    assert updates[0].message.text == "/start" and updates[0].message.from_user.language_code == "vi"
    assert [u.update_id for u in await bot.get_updates()] == [
        first["update_id"],
        second["update_id"],
    ]  # not confirmed yet

    assert [u.update_id for u in await bot.get_updates(offset=second["update_id"])] == [second["update_id"]]
    # a lower offset cannot bring a confirmed update back
    assert [u.update_id for u in await bot.get_updates(offset=first["update_id"])] == [second["update_id"]]

    third = tg.push_update(tg.message_update(1, "ok"))
    assert [u.update_id for u in await bot.get_updates(offset=third["update_id"] + 1)] == []
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_get_updates_limit_and_allowed_updates(tg, bot):
    for i in range(3):
        tg.push_update(tg.message_update(1, f"m{i}"))
    tg.push_update(tg.callback_update(1, "yes"))
    assert [u.message.text for u in await bot.get_updates(limit=2)] == ["m0", "m1"]
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates] == ["yes"]  # the messages are gone for good
    assert (await bot.get_webhook_info()).allowed_updates == ["callback_query"]


async def test_long_poll_times_out_empty_and_wakes_on_push(tg, bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 4  # headroom for a loaded machine

    async def push_soon():
        await asyncio.sleep(0.2)
        tg.push_update(tg.message_update(1, "đây"))

    pusher = asyncio.create_task(push_soon())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    await pusher
    assert [u.message.text for u in updates] == ["đây"]
    assert time.monotonic() - started < 4  # woken by the push, not the 5 s timeout


async def test_second_poller_terminates_the_first(tg, bot):
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda calls: len([c for c in calls if c.method == "getUpdates"]) == 1)
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await waiting


async def test_blocked_chat_is_forbidden(tg, bot):
    tg.block(77)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(chat_id=77, text="Chào")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_document(chat_id=77, document=BufferedInputFile(b"x", filename="a.txt"))
    assert tg.sent_texts() == []  # the attempt is recorded, but nothing was delivered
    assert tg.calls_of("sendMessage")[0].status == 403

    tg.push_update(tg.blocked_update(88))  # the user blocking the bot has the same effect
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(chat_id=88, text="Chào")
    [update] = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"


async def test_rate_limit_raises_retry_after(tg, bot):
    tg.rate_limit(n=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(chat_id=1, text="nhanh quá")
        assert caught.value.retry_after == 7
        assert "Too Many Requests: retry after 7" in caught.value.message
    await bot.send_message(chat_id=1, text="được rồi")
    assert tg.sent_texts() == ["được rồi"]


async def test_send_document_stores_upload(tg, bot):
    message = await bot.send_document(
        chat_id=9, document=BufferedInputFile(b"a,b\n1,2\n", filename="bao-cao.csv"), caption="Báo cáo"
    )
    [call] = tg.calls_of("sendDocument")
    upload = call.params["document"]
    assert isinstance(upload, UploadedFile) and (upload.filename, upload.data) == ("bao-cao.csv", b"a,b\n1,2\n")
    assert call.params["caption"] == "Báo cáo" and call.params["chat_id"] == 9
    assert (message.document.file_name, message.document.file_size, message.caption) == ("bao-cao.csv", 8, "Báo cáo")
    assert (await bot.download(message.document.file_id)).read() == b"a,b\n1,2\n"

    photo = await bot.send_photo(chat_id=9, photo=BufferedInputFile(b"\x89PNG", filename="p.png"))
    assert photo.photo[-1].file_size == 4
    resent = await bot.send_document(chat_id=9, document=message.document.file_id)  # by file_id, no upload
    assert resent.document.file_unique_id == message.document.file_unique_id


async def test_get_file_and_download(tg, bot):
    tg.add_file("FILE-1", b"%PDF-1.4 hello", file_path="documents/file_1.pdf")
    file = await bot.get_file("FILE-1")
    assert (file.file_path, file.file_size) == ("documents/file_1.pdf", 14)
    assert (await bot.download("FILE-1")).read() == b"%PDF-1.4 hello"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_my_commands_per_language_and_scope(tg, bot):
    await bot.set_my_commands([BotCommand(command="start", description="Bắt đầu")], language_code="vi")
    await bot.set_my_commands(
        [BotCommand(command="start", description="Start"), BotCommand(command="help", description="Help")],
        language_code="en",
    )
    await bot.set_my_commands(
        [BotCommand(command="help", description="Trợ giúp")], scope=BotCommandScopeAllPrivateChats()
    )

    assert [c.description for c in await bot.get_my_commands(language_code="vi")] == ["Bắt đầu"]
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["start", "help"]
    assert await bot.get_my_commands() == []
    assert tg.my_commands("vi") == [{"command": "start", "description": "Bắt đầu"}]
    assert tg.my_commands(scope={"type": "all_private_chats"}) == [{"command": "help", "description": "Trợ giúp"}]
    await bot.delete_my_commands(language_code="en")
    assert tg.my_commands("en") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


async def test_get_updates_conflicts_with_a_webhook(tg, bot):
    await bot.set_webhook("http://127.0.0.1:1/hook", secret_token="s3cret", drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:1/hook"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


async def test_deliver_webhook_sends_secret_header(tg, bot):
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as url:
        await bot.set_webhook(f"{url}/hook", secret_token="s3cret")
        assert await tg.deliver_webhook(tg.message_update(5, "hi")) == 200
        assert await tg.deliver_webhook(tg.message_update(5, "plain"), secret="") == 200
    [(secret, update), (no_secret, _)] = received
    assert secret == "s3cret" and no_secret is None
    assert update["message"]["text"] == "hi" and "update_id" in update


async def test_webhook_reply_method_is_executed(tg, bot):
    """aiogram can answer a webhook with a method; Telegram runs it, and so does the fake."""
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message):
        return message.answer(f"Bạn nói: {message.text}")

    @dp.callback_query()
    async def pressed(callback: CallbackQuery):
        return callback.answer()

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="s3cret", handle_in_background=False).register(app, path="/hook")
    async with serve(app) as url:
        await bot.set_webhook(f"{url}/hook", secret_token="s3cret")
        assert await tg.deliver_webhook(tg.message_update(5, "123")) == 200
        assert await tg.deliver_webhook(tg.callback_update(5, "yes")) == 200
        assert await tg.deliver_webhook(tg.message_update(5, "x"), secret="wrong") == 401

    assert tg.sent_texts(5) == ["Bạn nói: 123"]
    answered = tg.calls_of("answerCallbackQuery")
    assert [(c.status, c.via_webhook) for c in answered] == [(200, True)]


async def test_polling_end_to_end(tg, bot):
    dp = Dispatcher()

    @dp.message(F.text == "/start")
    async def start(message: Message):
        await message.answer("Chào mừng!", reply_markup=KEYBOARD)

    @dp.callback_query(F.data == "yes")
    async def yes(callback: CallbackQuery):
        await callback.message.edit_text("Đã đồng ý")
        await callback.answer()

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        tg.push_update(tg.message_update(1, "/start", first_name="Lan", username="lan"))
        [sent] = await tg.wait_for(lambda calls: [c for c in calls if c.method == "sendMessage"])
        assert sent.params["text"] == "Chào mừng!"
        message_id = 2  # the user's /start was message 1 in this chat
        tg.push_update(tg.callback_update(1, "yes", message_id=message_id))
        await tg.wait_for(lambda calls: any(c.method == "answerCallbackQuery" and c.status == 200 for c in calls))
        [edit] = tg.calls_of("editMessageText")
        assert (edit.status, edit.params["message_id"], edit.params["text"]) == (200, message_id, "Đã đồng ý")
    finally:
        await dp.stop_polling()
        await polling


def test_builders_parse_as_aiogram_updates():
    tg = FakeTelegram(token=TOKEN)

    def parse(update: dict) -> Update:
        return Update.model_validate(tg.push_update(update))  # pushing numbers it

    photo = parse(tg.message_update(3, "ảnh", photo=True, last_name="Nguyễn", username="an"))
    assert photo.message.caption == "ảnh" and photo.message.photo[0].width == 800
    assert photo.message.chat.first_name == "An" and photo.message.from_user.username == "an"
    assert parse(tg.message_update(3, sticker=True)).message.sticker.emoji
    assert parse(tg.message_update(3, voice=True)).message.voice.duration == 2
    doc = parse(tg.message_update(3, document=("ds.xlsx", b"PK")))
    assert (doc.message.document.file_name, doc.message.document.file_size) == ("ds.xlsx", 2)
    command = parse(tg.message_update(3, "/help now"))
    assert command.message.entities[0].type == "bot_command" and command.message.entities[0].length == 5
    callback = parse(tg.callback_update(3, "yes", message_id=4))
    assert (callback.callback_query.data, callback.callback_query.message.message_id) == ("yes", 4)
    assert callback.callback_query.message.chat.id == 3
    blocked = parse(tg.blocked_update(3))
    assert blocked.my_chat_member.new_chat_member.status == "kicked"
    group = parse(tg.message_update(3, "hi", chat_id=-1001))
    assert group.message.chat.type == "supergroup"


async def test_wait_for_reports_calls_on_timeout(tg, bot):
    await bot.get_me()
    with pytest.raises(AssertionError, match=r"\['getMe'\]"):
        await tg.wait_for(lambda calls: tg.calls_of("sendMessage"), timeout=0.05)
    assert isinstance(tg.calls[0], Call)


class serve:
    """Run an aiohttp app on a free local port: `async with serve(app) as base_url`."""

    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app)

    async def __aenter__(self) -> str:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
