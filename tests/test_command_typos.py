"""Command typos: a command name typed a little wrong (/dangki, /trangthái, /trang thai) or
without its slash ("dangky" alone, outside a journey) is answered "Did you mean /dangky?", with a
button that runs it; only commands the person may use are offered; inside a journey a plain
word is the answer, never taken for a command. Through the web chat and the fake Telegram."""

from __future__ import annotations

from chidoan.i18n import gettext
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


TYPO = "There is no command /{name}. Did you mean /{command}?"
NO_SLASH = "Did you mean /{command}? Commands start with “/”."


def journey_of(db, account_id: int) -> str | None:
    with unit_of_work(db) as uow:
        state = uow.conversations.active(account_id)
        return state.journey if state else None


async def test_a_mistyped_command_is_answered_with_the_close_one_and_its_button_runs_it(app, db):
    sec = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    async with WebUser(app, "sec") as user:
        await user.say("/trangthái")
        assert user.text == vi(TYPO, name="trangthái", command="trangthai")
        await user.say("/trang thai")
        assert user.text == vi(TYPO, name="trang", command="trangthai")
        await user.say("/dangki")
        assert user.text == vi(TYPO, name="dangki", command="dangky")
        assert journey_of(db, sec) is None  # nothing started by a guess
        await user.say("1")  # the button "/dangky", typed
        assert vi("Register the plan for which year?") in user.text


async def test_a_command_name_without_its_slash_outside_a_journey(app, db):
    sec = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    async with WebUser(app, "sec") as user:
        await user.say("dangky")
        assert user.text == vi(NO_SLASH, command="dangky")
        await user.say("có")  # the answer to "Did you mean …?"
        assert vi("Register the plan for which year?") in user.text
        await user.say("Trạng thái")
        assert user.text == vi(NO_SLASH, command="trangthai")
        assert journey_of(db, sec) is None
        await user.press("/trangthai")
        assert "Vĩnh Bảo" in user.text  # the unit's obligations


async def test_inside_a_journey_a_plain_word_is_the_answer(app, db):
    branch = add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        for text in ("/sinhhoat", "hom qua", "1"):
            await user.say(text)
        assert vi("What was its theme?") in user.text
        await user.say("/sinhhoatt")  # a typo of a command mid-journey: told, and asked again
        assert user.last[0]["text"] == vi(TYPO, name="sinhhoatt", command="sinhhoat")
        assert vi("What was its theme?") in user.last[-1]["text"]
        await user.say("trangthai")
        assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
    with unit_of_work(db) as uow:
        assert uow.conversations.active(branch).data["a"]["theme"] == "trangthai"


async def test_only_commands_the_person_may_use_are_offered(app, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        await user.say("/moii")  # /moi is the district staff's
        assert user.text == vi("There is no command /{name}. Type /help to see the commands you can use.", name="moii")
        # /dangky is a base unit's: a branch secretary may type it (to be told so) but does not see
        # it in /trogiup, so a typo or the bare word never leads there
        await user.say("/trogiup")
        assert "/dangky" not in user.text
        await user.say("/dangki")
        assert user.text == vi(
            "There is no command /{name}. Type /help to see the commands you can use.", name="dangki"
        )
        assert not user.last[0].get("buttons")
        await user.say("dangky")
        assert "/dangky" not in user.text
        await user.say("/sinhhoatt")  # their own command is still suggested
        assert user.text == vi(TYPO, name="sinhhoatt", command="sinhhoat")
    async with WebUser(app, "stranger") as user:
        await user.say("dangky")  # not registered: the invite code comes first
        assert "dangky" not in user.text and "/start" not in user.text
        await user.say("/trogiupp")
        assert user.text == vi(TYPO, name="trogiupp", command="trogiup")


async def test_on_telegram_a_typo_gets_the_suggestion(settings, org, db, tg):
    from chidoan.bot.app import App
    from tests.test_telegram import TgUser, tg_settings

    add_member(db, "7001", "Đặng Thu Hà", "CT-ML", "secretary", channel="telegram")
    app = App(tg_settings(settings, tg))
    await app.start()
    try:
        user = TgUser(tg, db, 7001, first_name="Hà", language="vi")
        await user.say("/dangki")
        assert user.text == vi(TYPO, name="dangki", command="dangky")
        await user.press("/dangky")
        assert vi("Register the plan for which year?") in user.text
    finally:
        await app.stop()
