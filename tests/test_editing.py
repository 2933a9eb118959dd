"""Editing a plan keeps what is there: each step of the part being edited shows its current value
with a "Keep as it is" button (typed "giữ nguyên", "giu nguyen" or "keep" does the same), so only
what changes is retyped; the task being edited is named by its own number; the edit menu's
labels are cut between words, with an ellipsis. Through the web chat, the stored plan checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chidoan.engine.inputs import KEEP_AS_TYPED
from chidoan.i18n import gettext
from chidoan.programmes.loader import programmes
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser
from tests.test_registration import PROGRAMME, secretary_in_vietnamese
from tests.test_registration import people as people  # noqa: F401  (the fixture)


def vi(msgid: str, **params) -> str:
    return gettext("vi", msgid, **params)


def labels(user: WebUser) -> list[str]:
    return [b["label"] for m in user.last for row in m.get("buttons", []) for b in row]


TASK_2 = {
    "item": "1.5",
    "what": "Tuyên truyền Nghị quyết Đại hội Đoàn đến 100% đoàn viên",
    "when": "Quý II",
    "who": "Ban Chấp hành",
    "result": None,
}


@asynccontextmanager
async def at_the_summary(settings, db, people) -> AsyncIterator[WebUser]:
    """secretary_in_vietnamese at the summary of a plan with two tasks in area 1 (the second under
    item 1.5) and one in areas 2 and 3."""
    async with secretary_in_vietnamese(settings, db, people) as sec:
        await sec.say("/dangky 2027")
        for item, what, when, more in (
            ("1", "Cập nhật 100% đoàn viên lên phần mềm quản lý đoàn viên", "tháng 3", "co"),
            ("5", TASK_2["what"], "quý II", "khong"),
            ("1", "Xây dựng chương trình công tác năm của Đoàn phường", "tháng 1", "khong"),
            ("1", "Tổ chức 01 buổi đối thoại với Đảng ủy, UBND phường", "tháng 9", "khong"),
        ):
            for text in (item, what, when, "ban chap hanh", "bo qua", more):
                await sec.say(text)
        await sec.say("dung")
        await sec.say("dung")
        assert vi("Please check your answers:") in sec.text
        yield sec


async def test_editing_a_task_keeps_every_answer_not_retyped(settings, db, people):
    keep = vi("Keep as it is")
    async with at_the_summary(settings, db, people) as sec:
        await sec.say("sua")
        await sec.say("1")  # area 1: Edit 1, Remove 1, Edit 2, Remove 2, Add one more
        await sec.say("3")  # edit task 2
        assert vi("{intro}Task {n} of area {number}: which item does it serve?", intro="", n=2, number=1) in sec.text
        assert keep in labels(sec)
        await sec.say("giu nguyen")
        assert vi("(now: {value})", value=TASK_2["what"]) in sec.text and keep in labels(sec)
        await sec.say("Giữ nguyên")
        assert vi("(now: {value})", value="Quý II") in sec.text
        await sec.say("keep")
        assert vi("(now: {value})", value="Ban Chấp hành") in sec.text
        await sec.press(keep)
        assert vi("(now: {value})", value=vi("(skipped)")) in sec.text  # the optional result
        await sec.say("giữ nguyên")
        assert vi("Please check your answers:") in sec.text
        await sec.say("sua")
        await sec.say("I muc dich")  # Section I: the suggested text was used
        assert keep in labels(sec) and vi("✅ Use the suggested text") in labels(sec)
        await sec.say("giu nguyen")
        assert vi("Please check your answers:") in sec.text
        await sec.say("gui")
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, PROGRAMME, 2027)
        [version] = uow.registrations.versions(registration.id)
    assert version.data["area1"][1] == TASK_2
    assert version.data["purpose"] == programmes(settings)[PROGRAMME].defaults.purpose


async def test_a_new_task_added_while_editing_has_nothing_to_keep(settings, db, people):
    async with at_the_summary(settings, db, people) as sec:
        await sec.say("sua")
        await sec.say("2")  # area 2: Edit 1, Add one more
        await sec.say("them nua")
        assert vi("Keep as it is") not in labels(sec)
        await sec.say("1")
        await sec.say("giu nguyen")  # nothing to keep yet: not taken as the task
        assert sec.last[0]["text"] == vi("There is nothing to keep here yet: please type the answer.")
        assert vi("Keep as it is") not in labels(sec)
        assert "area2" in uow_answers(db, people["sec"]) and len(uow_answers(db, people["sec"])["area2"]) == 2
        assert "what" not in uow_answers(db, people["sec"])["area2"][1]


def uow_answers(db, account_id: int) -> dict:
    with unit_of_work(db) as uow:
        return uow.conversations.active(account_id).data["a"]


async def test_the_edit_menu_cuts_labels_between_words(settings, db, people):
    async with at_the_summary(settings, db, people) as sec:
        await sec.say("sua")
        await sec.say("1")
        # "1.5 Tuyên truyền, bảo vệ nền tảng tư tưởng" is longer than a label's 40 characters
        assert vi("Edit {n}: {text}", n=2, text="1.5 Tuyên truyền, bảo vệ nền tảng tư…") in labels(sec)


async def test_a_meeting_report_edited_keeps_a_number_typed_giu_nguyen(app, db):
    """Another journey, a number step: "giu nguyen" there keeps the count, it is no number to refuse."""
    from chidoan.storage.models import ReportKind
    from tests.conftest import add_member

    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    async with WebUser(app, "branch") as user:
        for text in ("/sinhhoat", "hom qua", "1", "Học tập Nghị quyết", "25", "20", "Nội dung", "bo qua", "bo qua"):
            await user.say(text)
        await user.say("xong")
        assert vi("Please check your answers:") in user.text
        await user.say("sua")
        await user.say("co mat")  # "Có mặt"
        assert vi("(now: {value})", value="20") in user.text and vi("Keep as it is") in labels(user)
        await user.say("giu nguyen")
        assert vi("Please check your answers:") in user.text
        await user.say("1")
    with unit_of_work(db) as uow:
        [report] = uow.reports.of_unit(uow.units.by_code("RG-VB-KP1").id, ReportKind.meeting)
        data = uow.reports.latest_data(report.id)
    assert (data["total"], data["present"], data["theme"]) == (25, 20, "Học tập Nghị quyết")


async def test_giu_nguyen_at_keep_as_typed_while_editing_keeps_the_stored_value(settings, db, people):
    """Editing task 2's "when" (Quý II) to 15/3/2026 asks whether to keep that date, outside the
    plan year. "giữ nguyên" there is the edit's word: the stored Quý II stays, the date is dropped.
    The question's own words ("Giữ như đã nhập") are not "Giữ nguyên"."""
    async with at_the_summary(settings, db, people) as sec:
        for text in ("sua", "1", "3", "giu nguyen", "giu nguyen"):
            await sec.say(text)
        assert vi("(now: {value})", value="Quý II") in sec.text
        await sec.say("15/3/2026")
        assert "15/03/2026" in sec.text and vi("(now: {value})", value="Quý II") in sec.text
        assert vi("Keep as it is") in labels(sec) and vi("✅ Keep as typed") in labels(sec)
        assert "Giữ nguyên" not in vi("✅ Keep as typed") + gettext("vi", KEEP_AS_TYPED, text="x")
        await sec.say("giu nguyen")
        assert vi("(now: {value})", value="Ban Chấp hành") in sec.text
        await sec.say("giu nguyen")
        await sec.say("giu nguyen")
        assert vi("Please check your answers:") in sec.text and "Quý II" in sec.text
        assert "15/03/2026" not in sec.text
        await sec.say("sua")
        await sec.say("1")
        await sec.say("3")
        await sec.say("giu nguyen")
        await sec.say("giu nguyen")
        await sec.say("Quý I/2026")  # the other year, now kept as typed, by its own words
        await sec.say("giu nhu da nhap")
        assert vi("(now: {value})", value="Ban Chấp hành") in sec.text
        await sec.say("giu nguyen")
        await sec.say("giu nguyen")
        await sec.say("gui")
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, PROGRAMME, 2027)
        [version] = uow.registrations.versions(registration.id)
    assert version.data["area1"][1] == TASK_2 | {"when": "Quý I/2026"}
