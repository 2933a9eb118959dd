"""/hanchot end to end through the web chat: a reviewing unit's staff move a deadline (asked,
confirmed once, stored with who and when), the units they review are held to it and told, other
districts are not; and /trangthai does not call late what fell due before the unit joined."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from chidoan.programmes.loader import programmes
from chidoan.reminders.obligations import Calendar
from chidoan.storage.models import DeadlineChange, Outbox
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, bound_on
from tests.test_registration import PROGRAMME, TZ, register_rest, started
from tests.test_telegram import rows

MOVES = DeadlineChange.__table__
OUT = Outbox.__table__


@pytest.fixture
def people(db, org):
    found = {
        "sec": add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en"),
        "staff": add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff", locale="en"),
        "ct_sec": add_member(db, "ct_sec", "Đặng Thu Hà", "CT-ML", "secretary", locale="en"),
        "ct_staff": add_member(db, "ct_staff", "Nguyễn Văn An", "CT", "district_staff", locale="vi"),
    }
    for account_id in found.values():
        bound_on(db, account_id, 2026, 9, 1, 8, 0)  # joined before the plans were due
    return found


def moves(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(MOVES).order_by(MOVES.c.id)))


def local_day(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(TZ).date()


async def test_staff_move_the_plan_deadline_and_a_plan_sent_before_it_is_on_time(settings, db, org, people):
    app = await started(settings, 2026, 10, 16, 9, 0)  # the programme's deadline (before 15/10) has passed
    try:
        async with WebUser(app, "staff", language="en") as staff, WebUser(app, "sec", language="en") as sec:
            await staff.say("/hanchot kehoach 20/10/2026")
            assert (
                "Thành đoàn Rạch Giá: move the deadline for the registration of the “3 chủ động” plan for 2027"
                " from before 15/10/2026 to before 20/10/2026?"
            ) in staff.text
            assert moves(db) == []  # nothing stored before the confirmation
            await staff.press("Yes, move it")
            assert "now before 20/10/2026 (it was before 15/10/2026). 1 secretaries" in staff.text
            await sec.replies()
            assert (
                "Thành đoàn Rạch Giá moved the deadline for registering the “3 chủ động” plan for 2027:"
                " it is now before 20/10/2026 (it was before 15/10/2026)."
            ) in sec.text

            await sec.say("/dangky 2027")
            assert "Deadline: before 20/10/2026." in sec.text
            await register_rest(sec)
            assert "submitted (version 1), on time (deadline: before 20/10/2026)" in sec.text
            await sec.say("/trangthai")
            assert "plan for 2027, due before 20/10/2026: first submitted on 16/10/2026 (on time)" in sec.text

            await staff.replies()
            assert "Đoàn phường Vĩnh Bảo submitted its “3 chủ động” plan for 2027 (version 1), on time." in staff.text
            await staff.say("/hanchot")
            assert (
                "• the registration of the “3 chủ động” plan for 2027: before 20/10/2026, moved by Trần Thị Bình"
                " on 16/10/2026 (the programme's deadline: before 15/10/2026)."
            ) in staff.text
    finally:
        await app.stop()
    [row] = moves(db)
    assert (row.reviewer_id, row.obligation, row.programme, row.year, row.due_on) == (
        org["RG"].id,
        "plan",
        PROGRAMME,
        2027,
        date(2026, 10, 20),
    )
    assert row.changed_by == people["staff"] and local_day(row.changed_at) == date(2026, 10, 16)
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(org["RG-VB"].id, PROGRAMME, 2027)
        assert registration.version == 1 and registration.on_time is True


async def test_a_districts_move_leaves_another_districts_units_alone(settings, db, org, people):
    app = await started(settings, 2026, 10, 16, 9, 0)
    try:
        async with WebUser(app, "staff", language="en") as staff, WebUser(app, "ct_sec", language="en") as ct_sec:
            await staff.say("/hanchot plan 20/10/2026")
            await staff.press("Yes, move it")
            assert "0 secretaries" not in staff.text  # Vĩnh Bảo's secretary was told
            await ct_sec.say("/dangky 2027")
            assert "Deadline: before 15/10/2026." in ct_sec.text  # Châu Thành did not move its own
            await register_rest(ct_sec)
            assert "late (the deadline was before 15/10/2026)" in ct_sec.text
            assert "moved the deadline" not in ct_sec.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        assert uow.registrations.find(org["CT-ML"].id, PROGRAMME, 2027).on_time is False
    assert [row.reviewer_id for row in moves(db)] == [org["RG"].id]


async def test_wrong_dates_past_dates_and_unknown_words_are_refused_in_vietnamese(settings, db, org, people):
    app = await started(settings, 2026, 10, 16, 9, 0)
    try:
        async with WebUser(app, "ct_staff") as staff:
            await staff.say("/hanchot kehoach 31/02/2026")
            assert "“31/02/2026” không phải là ngày hợp lệ" in staff.text
            await staff.say("/hanchot kehoach 10/10/2026")
            assert "Hạn mới phải sau ngày hôm nay" in staff.text
            await staff.say("/hanchot kehoach 16/10/2026")  # "before today" has passed as well
            assert "Hạn mới phải sau ngày hôm nay" in staff.text
            await staff.say("/hanchot kehoach 20/03/2027")  # 156 days after 15/10/2026
            assert "chỉ được điều chỉnh tối đa 120 ngày" in staff.text
            await staff.say("/hanchot sinhhoat 20/10/2026")
            assert "“sinhhoat 20/10/2026” không phải là hạn chót có thể điều chỉnh" in staff.text
            assert "Ví dụ: /hanchot kehoach" in staff.text
            assert not any(b for m in staff.last for b in m.get("buttons", []))
    finally:
        await app.stop()
    assert moves(db) == []


async def test_a_secretary_cannot_use_hanchot_nor_its_button(settings, db, org, people):
    add_member(db, "vi_sec", "Phạm Minh Dũng", "RG-VB", "deputy", locale="vi")
    app = await started(settings, 2026, 10, 16, 9, 0)
    try:
        async with WebUser(app, "vi_sec") as sec:
            await sec.say("/hanchot kehoach 20/10/2026")
            assert "không được dùng lệnh /hanchot" in sec.text
            await sec.say("/deadline")
            assert "không được dùng lệnh /deadline" in sec.text
            forged = f"dl:y:{org['RG'].id}:p:2027:20261020:0"
            await sec.send_frame({"type": "button", "payload": forged})
            assert "Nút này không còn dùng được nữa." in sec.text
    finally:
        await app.stop()
    assert moves(db) == []


async def test_a_button_pressed_twice_stores_once_and_an_older_one_is_stale(settings, db, org, people):
    app = await started(settings, 2026, 10, 16, 9, 0)
    try:
        async with WebUser(app, "staff", language="en") as staff:
            await staff.say("/hanchot kehoach 25/10/2026")
            older = staff.button("Yes, move it")
            await staff.say("/hanchot kehoach 22/10/2026")
            newer = staff.button("Yes, move it")
            await staff.send_frame({"type": "button", "payload": newer})
            assert "now before 22/10/2026" in staff.text
            await staff.send_frame({"type": "button", "payload": newer})  # pressed again
            assert "Already saved: the deadline for the registration" in staff.text
            await staff.send_frame({"type": "button", "payload": older})  # asked before the move: stale
            assert "That button is no longer valid." in staff.text
            await staff.say("/hanchot kehoach 22/10/2026")
            assert "is already before 22/10/2026" in staff.text
    finally:
        await app.stop()
    assert [row.due_on for row in moves(db)] == [date(2026, 10, 22)]


async def test_the_dialogue_deadline_moves_by_a_word_typed_with_or_without_accents(settings, db, org, people):
    app = await started(settings, 2026, 10, 16, 9, 0)
    try:
        async with WebUser(app, "ct_staff") as staff:
            await staff.say("/deadline Đối thoại 31/12/2026")
            assert "điều chỉnh hạn báo cáo đối thoại năm 2026 từ trước ngày 15/12/2026" in staff.text
            await staff.press("Đồng ý điều chỉnh")
            assert "Đã lưu." in staff.text
            await staff.say("/hanchot")
            assert "• Hạn báo cáo đối thoại năm 2026: trước ngày 31/12/2026, do đồng chí Nguyễn Văn An" in staff.text
            assert "• Hạn đăng ký kế hoạch “3 chủ động” năm 2027: trước ngày 15/10/2026" in staff.text
            await staff.say("/hanchot ke hoach 20/10/2026")
            await staff.press("Không")
            assert "hạn chót giữ nguyên" in staff.text
    finally:
        await app.stop()
    [row] = moves(db)
    assert (row.reviewer_id, row.obligation, row.year, row.due_on, row.changed_by) == (
        org["CT"].id,
        "dialogue",
        2026,
        date(2026, 12, 31),
        people["ct_staff"],
    )


async def test_status_of_a_unit_that_joined_after_the_deadline_is_not_overdue(settings, db, org, people):
    newcomer = add_member(db, "newcomer", "Ngô Thị Mới", "KG-CD", "secretary", locale="en")
    bound_on(db, newcomer, 2026, 11, 20, 10, 0)  # the plan for 2027 was due before 15/10/2026
    app = await started(settings, 2026, 11, 20, 15, 0)
    try:
        async with WebUser(app, "newcomer", language="en") as new, WebUser(app, "ct_sec", language="en") as old:
            await new.say("/trangthai")
            assert (
                "plan for 2027, due before 15/10/2026: not required: the deadline passed before your unit joined."
                in new.text
            )
            assert "overdue" not in new.text
            await old.say("/trangthai")  # joined in September: late indeed
            assert "plan for 2027, due before 15/10/2026: not submitted, overdue" in old.text
    finally:
        await app.stop()


async def test_a_plan_from_a_unit_that_joined_after_the_deadline_is_not_called_late(settings, db, org, people):
    """The start rule of /trangthai and the reminders holds when the plan comes: the newcomer, its
    document's caption and the union above are not told it is late; a unit that had joined is."""
    newcomer = add_member(db, "newcomer", "Ngô Thị Mới", "KG-CD", "secretary", locale="en")
    bound_on(db, newcomer, 2026, 11, 20, 10, 0)  # the plan for 2027 was due before 15/10/2026
    province = add_member(db, "province", "Phan Văn Tỉnh", "KG", "district_staff", locale="en")
    app = await started(settings, 2026, 11, 20, 15, 0)
    try:
        async with WebUser(app, "newcomer", language="en") as new, WebUser(app, "ct_sec", language="en") as old:
            await new.say("/dangky 2027")
            await register_rest(new)
            assert "late" not in new.text.replace("not late", "")
            assert "(version 1), not late: your unit joined after the common deadline (before 15/10/2026)" in new.text
            await old.say("/dangky 2027")
            await register_rest(old)
            assert "(version 1), late (the deadline was before 15/10/2026)" in old.text
    finally:
        await app.stop()
    [notice] = [r.body["text"] for r in rows(db, select(OUT).where(OUT.c.account_id == province))]
    assert notice == (
        "Đoàn Trường Cao đẳng Kiên Giang submitted its “3 chủ động” plan for 2027 (version 1); it joined after the"
        " common deadline (before 15/10/2026), so it is not late."
    )
    with unit_of_work(db) as uow:
        assert uow.registrations.find(org["KG-CD"].id, PROGRAMME, 2027).on_time is True  # not late, in /trangthai too
        assert uow.registrations.find(org["CT-ML"].id, PROGRAMME, 2027).on_time is False


def test_the_calendar_returns_a_moved_date_for_the_reviewers_units_only(settings, db, org, people):
    programme = programmes(settings)[PROGRAMME]
    now = datetime(2026, 10, 16, 2, 0, tzinfo=UTC)
    with unit_of_work(db) as uow:
        uow.deadlines.move(
            reviewer_id=org["RG"].id,
            obligation="plan",
            programme=PROGRAMME,
            year=2027,
            due_on=date(2026, 10, 20),
            by=people["staff"],
            now=now,
        )
        uow.deadlines.move(
            reviewer_id=org["KG"].id,
            obligation="dialogue",
            programme=PROGRAMME,
            year=2026,
            due_on=date(2026, 12, 30),
            by=people["staff"],
            now=now,
        )
        cal = Calendar.load(uow, settings)
        vb, branch, ml, cd = (uow.units.by_code(code) for code in ("RG-VB", "RG-VB-KP1", "CT-ML", "KG-CD"))
        assert cal.plan_due(programme, 2027, vb) == cal.plan_due(programme, 2027, branch) == date(2026, 10, 20)
        assert cal.plan_due(programme, 2027, ml) == cal.plan_due(programme, 2027, cd) == date(2026, 10, 15)
        assert cal.plan_due(programme, 2026, vb) == date(2025, 10, 15)  # only the year moved
        assert cal.due(org["RG"].id, "plan", programme, 2027) == date(2026, 10, 20)
        # The province reviews only the units no district reviews: Cao đẳng, not Vĩnh Bảo.
        assert cal.dialogue_due(programme, 2026, cd) == date(2026, 12, 30)
        assert cal.dialogue_due(programme, 2026, vb) == date(2026, 12, 15)
        # The start rule, as /trangthai asks it: joined 01/09/2026.
        assert cal.start_of(uow, vb) == date(2026, 9, 1)
        assert cal.owes(date(2026, 10, 20), cal.start_of(uow, vb))
        assert not cal.owes(date(2025, 10, 15), cal.start_of(uow, vb))
        assert cal.start_of(uow, cd) is None and not cal.owes(date(2026, 10, 20), None)
