"""What is typed at a free-text step: a suggestion's words typed in a hurry take the suggestion
(a leader's title, who is in charge of a task), "không" at an optional step skips it, and a
full name without accents is asked about before it goes on documents. The person's own
wording is never taken for an option. Through the web chat and the Zalo Bot, the database
checked afterwards."""

from __future__ import annotations

import pytest

from chidoan.bot.app import App
from chidoan.engine.inputs import parse_name
from chidoan.engine.messages import Typed
from chidoan.engine.typed import match
from chidoan.i18n import gettext
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_registration import started
from tests.test_typed_answers import submitted_plan
from tests.test_zalo_bot import ZaloUser, zalo_settings
from tests.test_zalo_bot import unpaced as unpaced  # noqa: F401  (the fixture)
from tests.test_zalo_bot import zalo as zalo  # noqa: F401  (the fixture)


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


def suggestions(*labels: str) -> dict:
    """A remembered free-text step offering `labels`, with Back."""
    rows = [[[label, f"j:1.2.s:{i}"]] for i, label in enumerate(labels)]
    return {"text": "?", "typed": str(Typed.text), "earlier": 0, "buttons": [*rows, [["« Quay lại", "j:1.2.back"]]]}


TITLES = suggestions(
    "Bí thư Đảng ủy phường", "Phó Bí thư Đảng ủy phường", "Chủ tịch UBND phường", "Phó Chủ tịch UBND phường"
)
IN_CHARGE = suggestions("Ban Thường vụ", "Ban Chấp hành", "Bí thư")


def pressed(body: dict, text: str) -> str | None:
    found = match(body, text)
    return found.payload if found else None


def test_a_suggestion_typed_without_accents_in_part_or_abbreviated_takes_it():
    assert pressed(TITLES, "bi thu dang uy") == "j:1.2.s:0"  # the first words of exactly one
    assert pressed(TITLES, "Chu tich UBND") == "j:1.2.s:2"
    assert pressed(TITLES, "chu tich uy ban nhan dan") == "j:1.2.s:2"  # UBND as the labels write it
    assert pressed(TITLES, "pho chu tich ubnd") == "j:1.2.s:3"
    assert pressed(TITLES, "chu tich") == "j:1.2.s:2"
    assert pressed(IN_CHARGE, "BCH") == "j:1.2.s:1" and pressed(IN_CHARGE, "btv") == "j:1.2.s:0"
    assert pressed(IN_CHARGE, "ban chap") == "j:1.2.s:1"


@pytest.mark.parametrize(
    ("body", "typed"),
    [
        (TITLES, "Phó Chủ tịch UBND"),  # written with accents: as the person wants it
        (TITLES, "Bí thư Đảng ủy"),
        (TITLES, "bi thu dang uy xa"),  # more than an option says
        (TITLES, "chu tich hoi cuu chien binh phuong"),
        (TITLES, "bi"),  # one word is too little to tell
        (TITLES, "pho"),
        (TITLES, "dang uy phuong"),  # inside a label, not its beginning
        (IN_CHARGE, "pho chu tich ubnd"),
        (IN_CHARGE, "ban"),
        (IN_CHARGE, "BCH chi doan"),
        (IN_CHARGE, "2 buổi"),
        (IN_CHARGE, "bi thu chi doan"),
    ],
)
def test_the_persons_own_wording_is_not_taken_for_a_suggestion(body, typed):
    assert pressed(body, typed) is None


def test_a_name_without_accents_is_asked_about_only_where_the_prompt_asks_for_accents():
    asked = parse_name("Nguyen Van Binh", accents=True)
    assert asked.value == "Nguyen Van Binh" and asked.doubt is not None
    for name in ("Nguyễn Văn Bình", "Đinh Van A", "Ngô Thị Hoa"):
        assert parse_name(name, accents=True).doubt is None, name
    assert parse_name("Nguyen Van Binh", accents=False).doubt is None  # English: "John Smith" too


async def test_leader_titles_typed_in_a_hurry_on_the_zalo_bot_take_the_listed_title(settings, org, zalo, unpaced, db):
    """The dialogue at a ward, typed on the Zalo Bot: "bi thu dang uy" and "chu tich ubnd" are the
    titles listed, a title of the person's own stays as typed; the leader's name typed without
    accents is asked about and typed again with them."""
    add_member(db, "z-cuong", "Lê Văn Cường", "RG-VB", "secretary", channel="zalo_bot")
    app = App(zalo_settings(settings, zalo))
    await app.start()
    try:
        user = ZaloUser(zalo, db, "z-cuong", name="Cuong")
        for typed in ("/doithoai", "hom qua", "phuong"):
            await user.say(typed)
        await user.say("Nguyen Van Hung")
        assert vi("The full name “{text}” has no accent marks. Keep it exactly as typed?", text="Nguyen Van Hung") in (
            user.text
        )
        await user.say("Nguyễn Văn Hùng")  # typed again, with its accents
        assert vi("Their title? Press one or type it.") in user.text
        await user.say("bi thu dang uy")
        await user.say("co")
        await user.say("Trần Thị Mai")
        await user.say("chu tich ubnd")
        await user.say("co")
        await user.say("Lê Văn Tám")
        await user.say("Phó Chủ tịch UBND")  # the person's own wording, with accents: kept
        await user.say("co")
        await user.say("Phạm Văn Dũng")
        await user.say("chu tich hoi cuu chien binh")
        await user.say("khong")
        for typed in ("45", "Đề nghị xây sân bóng", "khong", "khong", "khong"):
            await user.say(typed)
        assert vi("Please check your answers:") in user.text
        await user.say("gui")
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        [report] = uow.reports.of_unit(unit.id, "dialogue")
        data = uow.reports.latest_data(report.id)
    assert [(leader["name"], leader["title"]) for leader in data["leaders"]] == [
        ("Nguyễn Văn Hùng", "Bí thư Đảng ủy phường"),
        ("Trần Thị Mai", "Chủ tịch UBND phường"),
        ("Lê Văn Tám", "Phó Chủ tịch UBND"),
        ("Phạm Văn Dũng", "chu tich hoi cuu chien binh"),
    ]
    assert data["questions"] == [{"question": "Đề nghị xây sân bóng", "answer": None, "promised": False}]


async def test_who_is_in_charge_typed_bch_or_btv_is_the_committee_and_other_wording_stays(settings, db, org):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    app = await started(settings, 2026, 10, 5, 8, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await sec.say("/dangky 2027")

            async def task(item: str, who: str, more: bool) -> None:
                await sec.press(item)
                await sec.say(f"Việc {item}")
                await sec.say("quy 1/2027")
                assert "Who is in charge?" in sec.text
                await sec.say(who)
                assert "Expected result" in sec.text
                await sec.say("ko")  # optional: skipped
                await sec.press("Yes, add another" if more else "No, continue")

            await task("1.1", "BCH", more=True)
            await task("1.2", "pho chu tich ubnd", more=False)
            await task("2.1", "btv", more=False)
            await task("3.1", "bi thu chi doan", more=False)
            await sec.press("Use the suggested text")
            await sec.press("Use the suggested text")
            await sec.press("Submit the plan")
            assert "has been submitted (version 1)" in sec.text
    finally:
        await app.stop()
    plan = submitted_plan(db)
    tasks = [task for key in ("area1", "area2", "area3") for task in plan[key]]
    assert [(task["who"], task.get("result")) for task in tasks] == [
        ("Ban Chấp hành", None),
        ("pho chu tich ubnd", None),
        ("Ban Thường vụ", None),
        ("bi thu chi doan", None),
    ]


async def test_khong_at_an_optional_text_step_skips_it_and_at_a_required_one_is_the_answer(app, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:  # Vietnamese
        for typed in ("/sinhhoat", "hôm qua", "1", "không", "30", "20", "Quán triệt Nghị quyết"):
            await user.say(typed)
        assert vi("What opinions and wishes did members raise? (optional)") in user.text
        await user.say("ko")
        await user.say("Không có")
        await user.say("bo qua")  # the photos
        assert vi("Please check your answers:") in user.text
        for label in ("Members' opinions and wishes", "Decisions and next steps"):
            assert f"{vi(label)}: {vi('(skipped)')}" in user.text
        await user.say("gui")
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB-KP1")
        [report] = uow.reports.of_unit(unit.id, "meeting")
        data = uow.reports.latest_data(report.id)
    assert (data["theme"], data["opinions"], data["decisions"]) == ("không", None, None)


async def test_a_full_name_without_accents_is_asked_about_in_vietnamese_only(settings, db, org):
    app = await started(settings, 2026, 10, 5, 8, 0)
    question = vi("The full name “{text}” has no accent marks. Keep it exactly as typed?", text="Nguyen Van Binh")
    try:
        async with WebUser(app, "binh", "Bình") as binh:  # Vietnamese
            await binh.say(new_invite(db, "RG-VB"))
            await binh.say("Nguyen Van Binh")
            assert question in binh.text
            assert binh.button(vi("✅ Keep as typed")) and binh.button(vi("✏️ Type again"))
            await binh.say("giu")  # kept: it is how the person writes it
            assert vi("What is your position? Press one or type it.") in binh.text
            await binh.say("bi thu")
            await binh.say("xac nhan")
        async with WebUser(app, "an", "An") as an:
            await an.say(new_invite(db, "RG-VB-KP1"))
            await an.say("Nguyen Van An")
            await an.say("nhap lai")
            assert vi("What is your full name? (as it should appear on documents)") in an.text
            await an.say("Nguyễn Văn An")  # with accents: no question
            assert vi("What is your position? Press one or type it.") in an.text
            await an.say("bi thu")
            await an.say("xac nhan")
        async with WebUser(app, "john", "John", language="en") as john:
            await john.say(new_invite(db, "CT-ML"))
            await john.say("John Smith")  # the English prompt asks for no accents
            assert "What is your position? Press one or type it." in john.text
            await john.say("1")
            await john.say("confirm")
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        names = {
            user: uow.accounts.one(uow.accounts.sender("web", user).account_id).full_name
            for user in ("binh", "an", "john")
        }
    assert names == {"binh": "Nguyen Van Binh", "an": "Nguyễn Văn An", "john": "John Smith"}
