"""Answers as secretaries type them (issue 11, section 1): periods as plans write them, counts
with words around them, full names. Each read the way the document needs it, or asked about,
never refused for its wording; checked end to end through the web chat and in the database."""

from __future__ import annotations

from datetime import date

import pytest

from chidoan.engine.inputs import parse_name, parse_number, parse_period
from chidoan.engine.journey import Kind
from chidoan.handlers.dialogues import DIALOGUE
from chidoan.handlers.onboarding import ONBOARDING
from chidoan.i18n import gettext
from chidoan.storage.models import ConversationStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_registration import PROGRAMME, started

TODAY = date(2026, 10, 5)


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


def submitted_plan(db) -> dict:
    """What RG-VB's secretary submitted as the 2027 plan (version 1)."""
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, PROGRAMME, 2027)
        return uow.registrations.version(registration.id, 1).data


def whens_of(plan: dict) -> list[str]:
    return [task["when"] for key in ("area1", "area2", "area3") for task in plan[key]]


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("Quý I/2027", "Quý I/2027"),
        ("quy 1/2027", "Quý I/2027"),
        ("Q1 2027", "Quý I/2027"),
        ("Q2", "Quý II"),
        ("Tháng 9/2027", "Tháng 9/2027"),
        ("T9/2027", "Tháng 9/2027"),
        ("9/2027", "Tháng 9/2027"),
        ("tháng 9 năm 2027", "Tháng 9/2027"),
        ("Từ tháng 3 đến tháng 5/2027", "Tháng 3 - 5/2027"),
        ("thang 3-5/2027", "Tháng 3 - 5/2027"),
        ("từ T3 – T5/2027", "Tháng 3 - 5/2027"),
        ("quý 1 năm 2027", "Quý I/2027"),
        ("Q.2", "Quý II"),
        ("tháng 3, 4", "Tháng 3, 4"),
        ("tháng 3 và 4", "Tháng 3, 4"),
        ("THÁNG 3,4,5", "Tháng 3, 4, 5"),
        ("Trong năm 2027", "Năm 2027"),
        ("năm 2027", "Năm 2027"),
        ("6 tháng đầu năm", "6 tháng đầu năm"),
        ("6 thang dau nam 2027", "6 tháng đầu năm 2027"),
        ("quý I và II", "Quý I, II"),
        ("quý III, IV", "Quý III, IV"),
        ("Quý I đến quý III", "Quý I - III"),
        ("tháng 3", "Tháng 3"),
        ("15/3/2027", "15/03/2027"),
        ("cả năm", "Cả năm"),
        # a year alone, a two-digit year, a year on both ends of a range
        ("2027", "Năm 2027"),
        ("tháng 3/27", "Tháng 3/2027"),
        ("Quý II/27", "Quý II/2027"),
        ("Quý II/2027 - Quý III/2027", "Quý II - III/2027"),
        ("tháng 3/2027 - tháng 5/2027", "Tháng 3 - 5/2027"),
        ("tháng 3 năm 2027 đến tháng 5 năm 2027", "Tháng 3 - 5/2027"),
        # English: the document is Vietnamese, so the same forms
        ("March", "Tháng 3"),
        ("March 2027", "Tháng 3/2027"),
        ("May-June 2027", "Tháng 5 - 6/2027"),
        ("from Sept. to Nov. 2027", "Tháng 9 - 11/2027"),
        ("January and February", "Tháng 1, 2"),
        ("Q2 2027", "Quý II/2027"),
        ("quarters 1 and 2", "Quý I, II"),
        ("all year", "Cả năm"),
        ("the whole year 2027", "Cả năm 2027"),
        ("year 2027", "Năm 2027"),
    ],
)
def test_periods_are_read_as_plans_write_them(typed, normalised):
    parsed = parse_period(typed, today=TODAY)
    assert parsed.ok and parsed.doubt is None and parsed.value == normalised


def test_a_period_it_cannot_read_is_offered_as_typed_and_a_wrong_number_is_refused():
    for typed in ("Khi có kinh phí", "tháng 11 - 2", "3", "tháng 11/2026 - tháng 2/2027", "khi có máy chiếu"):
        parsed = parse_period(typed, today=TODAY)
        assert parsed.ok and parsed.value == typed and parsed.doubt, typed
    for typed in ("tháng 13", "quý 5", "quý V", "31/02/2027"):
        assert not parse_period(typed, today=TODAY).ok, typed


def test_counts_with_words_around_them_and_numbers_in_the_readers_marks():
    for typed, value in [
        ("25 đoàn viên", 25),
        ("khoảng 80", 80),
        ("~80", 80),
        ("80 người", 80),
        ("tầm 1.200 ĐV", 1200),
        ("25 người.", 25),
        ("30.", 30),
    ]:
        assert parse_number(typed, locale="vi").value == value, typed
    for typed in ("2 trăm", "80 hay 90", "huy"):  # a multiplier, two numbers, a word: no count
        assert not parse_number(typed, locale="vi").ok, typed
    assert parse_number("200000", locale="vi", maximum=100000).params == {"max": "100.000"}
    assert parse_number("200000", locale="en", maximum=100000).params == {"max": "100,000"}


def test_a_full_name_has_two_words_with_letters():
    for typed in ("123", "a", "Nguyễn", "Nguyễn 123", "  Hà  "):
        assert "not a full name" in (parse_name(typed).error or ""), typed
    assert parse_name("Nguyễn Văn A").value == "Nguyễn Văn A"
    assert parse_name(" H'Hen  Niê ").value == "H'Hen Niê"


def test_every_step_asking_for_a_persons_name_reads_a_full_name():
    leaders = DIALOGUE.step("leaders")
    assert ONBOARDING.step("full_name").kind is Kind.name
    assert next(step for step in leaders.steps if step.key == "name").kind is Kind.name


async def test_the_plan_takes_periods_as_typed_asks_about_the_unreadable_and_other_years(settings, db, org):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await sec.say("/dangky 2027")

            async def task(item: str, what: str, when: str) -> None:
                await sec.press(item)
                await sec.say(what)
                await sec.say(when)

            async def finish(more: bool) -> None:
                assert "Who is in charge?" in sec.text
                await sec.press("Ban Thường vụ")
                await sec.press("Skip")
                await sec.press("Yes, add another" if more else "No, continue")

            await task("1.1", "Cập nhật 100% đoàn viên lên phần mềm", "quy 1/2027")
            await finish(more=True)
            await task("1.2", "Khảo sát tâm tư nguyện vọng đoàn viên", "Khi có kinh phí")
            assert "could not read “Khi có kinh phí”" in sec.text and "exactly as typed" in sec.text
            await sec.say("giữ")  # typed, not pressed: keeps it
            await finish(more=True)
            await task("1.3", "Tuyên truyền chuyển đổi số cho thanh niên", "15/3/2026")
            assert "“15/03/2026” is not in 2027, the year of this plan" in sec.text
            await sec.press("Type again")
            assert "When?" in sec.text
            await sec.say("Từ tháng 3 đến tháng 5/2027")
            await finish(more=True)
            await task("1.4", "Giúp đỡ 20 thanh niên có hoàn cảnh khó khăn", "Quý I/2026")
            assert "is not in 2027" in sec.text
            await sec.say("1")  # the first button: keep it
            await finish(more=False)
            await task("2.3", "Sinh hoạt chi đoàn định kỳ hằng tháng", "tháng 3 và 4")
            await finish(more=False)
            await task("3.1", "Tổ chức 01 buổi đối thoại với Đảng ủy, UBND phường", "khi có dịp")
            assert "could not read “khi có dịp”" in sec.text
            await sec.say("quý I và II")  # at "keep it?", another answer is the answer typed again
            await finish(more=False)
            await sec.press("Use the suggested text")
            await sec.press("Use the suggested text")
            assert "Quý I/2027" in sec.text and "Khi có kinh phí" in sec.text  # the summary
            await sec.press("Submit the plan")
            assert "has been submitted (version 1)" in sec.text
    finally:
        await app.stop()
    data = submitted_plan(db)
    whens = whens_of(data)
    assert whens == ["Quý I/2027", "Khi có kinh phí", "Tháng 3 - 5/2027", "Quý I/2026", "Tháng 3, 4", "Quý I, II"]
    assert not any(key.startswith("_") for key in data)  # the plan year the checks used is not stored


async def test_counts_typed_with_words_a_branch_too_big_is_asked_about_and_huy_cancels(settings, db, org):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "branch") as user:  # Vietnamese
            for attempt in ("huy", "huỷ", "Hủy"):
                await user.say("/sinhhoat")
                await user.say("hôm qua")
                await user.say("1")
                await user.say("Học tập Nghị quyết")
                assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
                await user.say(attempt)  # typed at a number step, it is /huy
                assert user.text == vi("Cancelled. Nothing was submitted. Type /help to see what you can do.")
            await user.say("/sinhhoat")
            await user.say("hôm qua")
            await user.say("1")
            await user.say("Học tập Nghị quyết")
            await user.say("1.200")
            assert "1.200 đoàn viên là khá nhiều đối với một chi đoàn" in user.text  # "." groups thousands
            assert user.button(vi("✅ Keep as typed")) and user.button(vi("✏️ Type again"))
            await user.say("120")  # the number typed again is the answer
            assert vi("How many members were present?") in user.text
            await user.press(vi("« Back"))
            assert vi("How many members does {unit} have?", unit="Chi đoàn Khu phố 1") in user.text
            await user.say("25 đoàn viên")
            await user.say("khoảng 20")
            assert vi("What was discussed and done?") in user.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        account_id = uow.accounts.sender("web", "branch").account_id
        history = uow.conversations.history(account_id)
        assert [c.status for c in history[:2]] == [ConversationStatus.cancelled] * 2
        answers = uow.conversations.active(account_id).data["a"]
        assert answers["total"] == 25 and answers["present"] == 20


async def test_a_full_name_needs_two_words_with_letters(settings, db, org):
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "newcomer", "Hà") as user:  # Vietnamese; the app's name is one word
            await user.say(new_invite(db, "RG-VB"))
            await user.press("Hà")  # the suggestion is the app's display name: not a full name either
            assert "“Hà” chưa phải là họ và tên đầy đủ" in user.text
            for typed in ("123", "a", "Nguyễn"):
                await user.say(typed)
                assert f"“{typed}” chưa phải là họ và tên đầy đủ. Vui lòng nhập đủ họ và tên" in user.text
            await user.say("Nguyễn Văn A")
            assert vi("What is your position? Press one or type it.") in user.text
            await user.press(vi("Secretary"))
            await user.press(vi("✅ Confirm"))
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        account = uow.accounts.one(uow.accounts.sender("web", "newcomer").account_id)
        assert account.full_name == "Nguyễn Văn A"


async def test_an_english_speaker_is_shown_english_periods_and_every_wording_is_stored_as_the_document_writes(
    settings, db, org
):
    """The English "When?" gives English examples; English months, "Q2", "all year", a year
    alone, a two-digit year and a year on both ends of a range are stored in the plan's
    (Vietnamese) form, without "keep as typed?"."""
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    app = await started(settings, 2026, 10, 5, 8, 0)
    whens = {
        "March 2027": "Tháng 3/2027",
        "May-June 2027": "Tháng 5 - 6/2027",
        "Q2": "Quý II",
        "all year": "Cả năm",
        "2027": "Năm 2027",
        "tháng 3/27": "Tháng 3/2027",
        "Quý II/2027 - Quý III/2027": "Quý II - III/2027",
    }
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await sec.say("/dangky 2027")
            for area, typed in enumerate(whens, 1):
                await sec.press("1.1" if area <= 5 else "2.3" if area == 6 else "3.1")
                await sec.say("Tổ chức 01 buổi sinh hoạt chuyên đề cho đoàn viên")
                assert sec.text == "When? A month (“March”), a quarter (“Q2”), a date, or “all year”."
                await sec.say(typed)
                assert "Who is in charge?" in sec.text, typed
                await sec.press("Ban Thường vụ")
                await sec.press("Skip")
                await sec.press("Yes, add another" if area < 5 else "No, continue")
            await sec.press("Use the suggested text")
            await sec.press("Use the suggested text")
            await sec.press("Submit the plan")
            assert "has been submitted (version 1)" in sec.text
    finally:
        await app.stop()
    assert whens_of(submitted_plan(db)) == list(whens.values())
    vi_prompt = vi("When? A month (“March”), a quarter (“Q2”), a date, or “all year”.")
    assert "“tháng 3”" in vi_prompt and "“quý II”" in vi_prompt and "“cả năm”" in vi_prompt


async def test_a_count_typed_with_a_full_stop_is_read(settings, db, org):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "branch") as user:  # Vietnamese
            for text in ("/sinhhoat", "hôm qua", "1", "Học tập Nghị quyết", "25 người.", "20."):
                await user.say(text)
            assert vi("What was discussed and done?") in user.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        account_id = uow.accounts.sender("web", "branch").account_id
        answers = uow.conversations.active(account_id).data["a"]
    assert (answers["total"], answers["present"]) == (25, 20)
