"""Every input kind, branching, "add another?" lists, summary edit and back, through the web
chat with a journey defined in the test (journeys are data)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chidoan.bot.app import App
from chidoan.engine.commands import Command
from chidoan.engine.dispatch import Engine
from chidoan.engine.journey import Choice, Journey, Kind, Step
from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
from chidoan.handlers.onboarding import start_with_code
from chidoan.i18n import gettext
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser

SUBMITTED: list[dict] = []

SURVEY = Journey(
    name="survey",
    title="Survey",
    steps=(
        Step(
            "kind",
            "What kind of gathering?",
            kind=Kind.choice,
            label="Gathering kind",
            choices=(
                Choice("regular", "Regular monthly"),
                Choice("themed", "On a theme"),
                Choice("extra", "Out of schedule"),
            ),
        ),
        Step("theme", "What was the gathering about?", label="Subject", when=lambda a: a.get("kind") == "themed"),
        Step("date", "When was it?", kind=Kind.date, not_future=True, label="Day held"),
        Step("present", "How many attended?", kind=Kind.number, maximum=100000, label="Attendance"),
        Step(
            "budget",
            "Budget in million dong?",
            kind=Kind.number,
            integer=False,
            required=False,
            label="Budget (million)",
        ),
        Step("online", "Was it online?", kind=Kind.yes_no, label="Held online"),
        Step(
            "tasks",
            "Task list",
            kind=Kind.repeat,
            label="Task list",
            more_prompt="Add another task? ({n} so far)",
            steps=(Step("what", "What will be done?"), Step("who", "Whose task is it?", required=False)),
        ),
    ),
    complete=lambda ctx, answers: (SUBMITTED.append(answers), ctx.say_text("stored")),
)


def survey_engine(settings) -> Engine:
    start_survey = Command(
        "khaosat", ("survey",), "a test survey", lambda ctx, _a: ctx.engine.runner.start(ctx, "survey")
    )
    return Engine(
        settings,
        commands=[*COMMANDS, start_survey],
        journeys=[*JOURNEYS, SURVEY],
        actions=ACTIONS,
        on_code=start_with_code,
    )


@pytest.fixture
async def survey_app(settings, org):
    app = App(settings, engine=survey_engine(settings))
    await app.start()
    yield app
    await app.stop()


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


async def test_every_input_kind_with_branching_lists_and_edits(survey_app, db):
    SUBMITTED.clear()
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    async with WebUser(survey_app, "surveyor") as user:  # Vietnamese: 1.200 is a thousand two hundred
        await user.say("/khaosat")
        assert "What kind of gathering?" in user.text
        await user.say("quay lại")  # no Back button on the first question; typed, it explains
        assert vi("This is the first question; there is nothing before it.") in user.text
        await user.say("hội nghị")  # not one of the options: refused politely
        assert vi("Please choose one of the options: press a button or type its number.") in user.text
        await user.say("2")  # by number
        assert "What was the gathering about?" in user.text
        await user.say("Thanh niên với chuyển đổi số")
        await user.say("31/02/2026")
        assert (
            vi("{text} is not a date on the calendar. Please check the day and month.", text="31/02/2026") in user.text
        )
        await user.say("15/10")
        assert vi("Please add the year, for example {example}.", example=f"15/10/{today.year}") in user.text
        await user.say("01/01/2099")
        assert vi("The date cannot be after {limit}.", limit=today.strftime("%d/%m/%Y")) in user.text
        await user.say("hôm qua")
        assert "How many attended?" in user.text
        await user.say("mười lăm")
        assert "How many attended?" in user.text  # asked again after the polite refusal
        await user.say("-3")
        assert vi("The number must be at least {min}.", min="0") in user.text
        await user.say("1,5")
        assert vi("Please type a whole number (no decimals).") in user.text
        await user.say("1.200")
        assert "Budget" in user.text
        await user.say("1,5")
        await user.say("có lẽ")
        assert vi("Please answer yes or no (or press a button).") in user.text
        await user.say("khong")
        assert "What will be done?" in user.text
        await user.say("Sinh hoạt chủ điểm tháng 10")
        await user.press(vi("Skip"))
        assert "Add another task? (1 so far)" in user.text
        await user.say("co")
        await user.say("Trồng cây xanh")
        await user.say("Anh Tuấn")
        await user.press(vi("No, continue"))
        summary = user.text
        assert "Subject: Thanh niên với chuyển đổi số" in summary
        assert f"Day held: {(today - timedelta(days=1)).strftime('%d/%m/%Y')}" in summary
        assert "Attendance: 1.200" in summary and "Budget (million): 1,5" in summary
        assert "1. Sinh hoạt chủ điểm tháng 10" in summary and "2. Trồng cây xanh; Anh Tuấn" in summary

        # Edit the kind: the theme no longer applies and leaves the summary.
        await user.press(vi("✏️ Edit"))
        await user.press("Gathering kind")
        assert vi("(now: {value})", value="On a theme") in user.text
        await user.press("Regular monthly")
        assert "Subject:" not in user.text and "Gathering kind: Regular monthly" in user.text
        # Remove the first task, edit the second.
        await user.press(vi("✏️ Edit"))
        await user.press("Task list")
        await user.press(vi("Remove {n}", n=1))
        assert "1. Trồng cây xanh; Anh Tuấn" in user.text and "Sinh hoạt" not in user.text
        await user.press(vi("✏️ Edit"))
        await user.press("Task list")
        await user.press(vi("Edit {n}: {text}", n=1, text="Trồng"))
        await user.say("Trồng 100 cây xanh")
        await user.say("Chị Mai")
        assert "1. Trồng 100 cây xanh; Chị Mai" in user.text
        await user.say("gửi")  # typed instead of pressed
        assert "stored" in user.text

    assert [
        {
            "kind": "regular",
            "date": (today - timedelta(days=1)).isoformat(),
            "present": 1200,
            "budget": 1.5,
            "online": False,
            "tasks": [{"what": "Trồng 100 cây xanh", "who": "Chị Mai"}],
            "_ctx": {},
        }
    ] == SUBMITTED
    with unit_of_work(db) as uow:
        [conv] = uow.conversations.history(uow.accounts.sender("web", "surveyor").account_id)
        assert conv.status == "completed" and conv.journey == "survey"
        assert conv.data["a"]["theme"] == "Thanh niên với chuyển đổi số"  # kept in the record, not submitted


async def test_branch_opened_by_an_edit_is_asked_before_the_summary(survey_app, db):
    SUBMITTED.clear()
    async with WebUser(survey_app, "brancher", language="en") as user:
        await user.say("/survey")
        await user.press("Regular monthly")
        for answer in ("hôm nay", "12", "-", "no", "Họp chi đoàn", "-"):
            await user.say(answer)
        await user.press("No, continue")
        assert "Budget (million): (skipped)" in user.text
        await user.press("Edit")
        await user.press("Gathering kind")
        await user.press("On a theme")
        assert "What was the gathering about?" in user.text  # the newly reached step, not the summary yet
        await user.say("Văn hóa đọc")
        assert "Subject: Văn hóa đọc" in user.text
        await user.press("Send")
    assert SUBMITTED[0]["theme"] == "Văn hóa đọc" and SUBMITTED[0]["budget"] is None
    assert SUBMITTED[0]["present"] == 12


async def test_non_text_where_text_is_expected(survey_app, db):
    from chidoan.engine.messages import Incoming

    async with WebUser(survey_app, "photographer", language="en") as user:
        await user.say("/survey")
        # The web chat sends only text; a Telegram photo arrives as an event with `media` set.
        await survey_app.processor.submit(
            Incoming("web", "photo-1", "photographer", "photographer", media="photo", language_code="en")
        )
        await user.replies()
        assert "not a photo" in user.text and "What kind of gathering?" in user.text
