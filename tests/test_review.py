"""Reviewing plans and reports (/duyet): return for correction of chosen parts, the correction of
only those parts and the resubmission, accepting (read-only from then on), the year-end rating of
each task and the unit's result proposed by the programme's rule, confirmed or overridden; every
action audited; the access rules; a button pressed twice; a stale button. End to end through the
web chat (and once through the fake Telegram Bot API), the database checked after each step."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.documents.plan import plan_filename
from chidoan.programmes.loader import Recognition, load_programme
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import (
    ItemRating,
    OrgUnit,
    Registration,
    RegistrationStatus,
    RegistrationVersion,
    Report,
    ReviewAction,
)
from chidoan.storage.registrations import NewerVersion
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, bound_on, make_settings, seed_org
from tests.test_programmes import line_of, problems_of
from tests.test_registration import TASKS, clock_at

R = Registration.__table__
V = RegistrationVersion.__table__
A = ReviewAction.__table__
IR = ItemRating.__table__
U = OrgUnit.__table__
P = Report.__table__
PROGRAMME = "three_proactives_2023_2027"
COMMENT = "Phần việc 2 cần ghi rõ số lượng thanh niên; mục I cần sát với tình hình của phường."


@pytest.fixture
def people(db, org):
    found = {
        "sec": add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary"),
        "deputy": add_member(db, "deputy", "Võ Thị Lan", "RG-VB", "deputy"),
        "staff": add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff"),
        "ct": add_member(db, "ct", "Nguyễn Văn Tâm", "CT", "district_staff"),
        "kg": add_member(db, "kg", "Phan Thị Hoa", "KG", "district_staff"),
        "cd": add_member(db, "cd", "Đỗ Minh Khoa", "KG-CD", "secretary"),
    }
    for account_id in found.values():
        bound_on(db, account_id, 2026, 9, 1, 8, 0)  # joined before the plans were due
    return found


async def started(settings, *local) -> App:
    app = App(settings, clock=clock_at(*local))
    await app.start()
    return app


async def register_vi(user: WebUser) -> None:
    """The whole journey as a secretary writing in Vietnamese (TASKS: four tasks, the second 1.4)."""
    await user.say("/dangky")
    if "năm nào" in user.text:
        await user.press("2027")
    for area_tasks in TASKS.values():
        for index, (item, what, when) in enumerate(area_tasks):
            await user.press(item)
            await user.say(what)
            await user.say(when)
            await user.press("Ban Thường vụ")
            await user.press("Bỏ qua")
            await user.press("Có, thêm nữa" if index < len(area_tasks) - 1 else "Không, tiếp tục")
    await user.press("Dùng nội dung gợi ý")
    await user.press("Dùng nội dung gợi ý")
    await user.press("Gửi kế hoạch")
    assert "Đã gửi kế hoạch năm 2027" in user.text


def plan_data(purpose: str = "Mục đích", implementation: str = "Tổ chức thực hiện") -> dict:
    data: dict = {"purpose": purpose, "implementation": implementation}
    for area, tasks in TASKS.items():
        data[f"area{area}"] = [
            {"item": item, "what": what, "when": when, "who": "Ban Thường vụ", "result": None}
            for item, what, when in tasks
        ]
    return data


def submit_direct(db, code: str, account_id: int) -> int:
    """A submitted plan stored the way /dangky stores one (for the tests not about the journey)."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(code)
        registration = uow.registrations.open(unit.id, PROGRAMME, 2027, now)
        document_id = uow.documents.add(kind="plan", filename=plan_filename("X", 2027), content=b"docx", now=now)
        uow.registrations.add_version(
            registration, data=plan_data(), account_id=account_id, now=now, on_time=True, document_id=document_id
        )
        return registration.id


def registration(db, code: str = "RG-VB"):
    with db.connect() as conn:
        return conn.execute(select(R).join(U, U.c.id == R.c.unit_id).where(U.c.code == code)).one()


def version_data(db, registration_id: int, number: int) -> dict:
    with db.connect() as conn:
        return conn.execute(
            select(V.c.data).where(V.c.registration_id == registration_id, V.c.version == number)
        ).scalar_one()


def actions(db, registration_id: int) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(A).where(A.c.registration_id == registration_id).order_by(A.c.id)))


def ratings(db, registration_id: int) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(IR).where(IR.c.registration_id == registration_id).order_by(IR.c.task)))


def labels(user: WebUser) -> list[str]:
    return [b["label"] for m in user.last for row in m.get("buttons", []) for b in row]


async def press_exact(user: WebUser, label: str) -> list[dict]:
    payload = next(
        b["payload"] for m in reversed(user.last) for row in m.get("buttons", []) for b in row if b["label"] == label
    )
    return await user.send_frame({"type": "button", "payload": payload})


# ---- the whole round, in the web chat -------------------------------------------------------------


async def test_return_correct_resubmit_accept_and_rate(settings, db, people):
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "sec") as sec, WebUser(app, "staff") as staff, WebUser(app, "deputy") as deputy:
            await register_vi(sec)
            first = registration(db)
            assert (first.status, first.version, first.on_time) == (RegistrationStatus.submitted, 1, True)
            v1 = version_data(db, first.id, 1)
            await staff.replies()

            # The queue, then the plan: the document, the tasks numbered with their items, I and III.
            await staff.say("/duyet")
            assert "Kế hoạch chờ kiểm tra, đánh giá: 1 (cũ nhất trước, trang 1/1)." in staff.text
            await staff.press("RG-VB")
            assert any(m.get("file", {}).get("filename", "").endswith(".docx") for m in staff.last)
            plan = staff.last[-1]["text"]
            assert "Kế hoạch “3 chủ động” năm 2027 của Đoàn phường Vĩnh Bảo (RG-VB)" in plan
            assert "(đúng hạn)" in plan and "Tình trạng: chờ kiểm tra, đánh giá." in plan
            assert "2. [1.4 " in plan and "4. [3.1 " in plan and "I. Mục đích, yêu cầu" in plan
            assert {"✅ Chấp nhận", "↩️ Trả lại để sửa", "⭐ Đánh giá cuối năm"} <= set(labels(staff))

            # Return: task 2 and section I, one comment.
            await staff.press("Trả lại để sửa")
            assert "⬜ Phần việc 2 (1.4)" in labels(staff)
            await staff.press("Phần việc 2 (1.4)")
            assert "☑️ Phần việc 2 (1.4)" in labels(staff)
            await press_exact(staff, "⬜ Mục I")
            await staff.press("Tiếp: nhập nhận xét")
            assert "Các phần mở lại để sửa: Phần việc 2 (1.4), Mục I." in staff.text
            await staff.say(COMMENT)
            await staff.press("Trả lại kế hoạch")
            assert "Đã trả lại kế hoạch cho Đoàn phường Vĩnh Bảo để sửa: Phần việc 2 (1.4), Mục I." in staff.text
            returned = registration(db)
            assert (returned.status, returned.version) == (RegistrationStatus.returned, 1)
            [back] = actions(db, first.id)
            assert (back.action, back.account_id) == ("return", people["staff"])
            assert back.detail == {"parts": ["task:2", "section:I"], "comment": COMMENT, "version": 1}

            # The secretary and the deputy are told, with a button to correct it.
            for user in (sec, deputy):
                await user.replies()
                assert "Thành đoàn Rạch Giá đã trả lại kế hoạch “3 chủ động” năm 2027" in user.text
                assert "Các phần cần sửa: Phần việc 2 (1.4), Mục I" in user.text and COMMENT in user.text
            fix = sec.button("Sửa kế hoạch")
            await sec.say("/trangthai")
            assert "đã được trả lại để sửa: gõ /dangky để sửa" in sec.text
            await sec.send_frame({"type": "button", "payload": fix})
            assert "Đồng chí Trần Thị Bình đã trả lại kế hoạch năm 2027 để sửa." in sec.text
            # Only task 2 then section I, nothing else.
            assert "(hiện tại: 1.4 " in sec.text and "Phần việc thứ 2 của lĩnh vực 1" in sec.text  # task 2, as returned
            await sec.press("1.4")
            await sec.say("Lập danh sách 25 thanh niên có hoàn cảnh khó khăn ở 5 khu phố để giúp đỡ")
            await sec.say("quý III")
            await sec.press("Ban Thường vụ")
            await sec.press("Bỏ qua")
            assert "Mục I. Mục đích, yêu cầu" in sec.text
            await sec.say("Đăng ký sát với tình hình thanh niên phường Vĩnh Bảo năm 2027, khả thi và đo được.")
            assert "Vui lòng kiểm tra lại các câu trả lời" in sec.text
            # The edit menu offers only the reopened parts.
            await sec.press("✏️ Sửa")
            menu = labels(sec)
            assert any(label.startswith("1. ") for label in menu) and any(label.startswith("I.") for label in menu)
            assert not any(label.startswith(("2. ", "3. ", "III.")) for label in menu)
            forged = sec.button("1. ").replace("e:area1", "e:area2")  # a part that was not returned
            await sec.send_frame({"type": "button", "payload": forged})
            assert "Nút này không còn dùng được nữa." in sec.text
            await sec.press("1. ")
            assert "Sửa số 1" not in " ".join(labels(sec)) and "Sửa số 2" in " ".join(labels(sec))
            assert not any(label.startswith(("Xóa số", "Thêm nữa")) for label in labels(sec))  # none removed or added
            await sec.press("Quay lại")
            await sec.press("Không đổi gì")
            await sec.press("Gửi kế hoạch")
            assert "(phiên bản 2)" in sec.text
            second = registration(db)
            assert (second.status, second.version, second.on_time) == (RegistrationStatus.submitted, 2, True)
            assert second.first_submitted_at == first.first_submitted_at
            v2 = version_data(db, first.id, 2)
            assert v2["area1"][1]["what"].startswith("Lập danh sách 25 thanh niên")
            assert v2["purpose"].startswith("Đăng ký sát với tình hình")
            untouched = {k: v for k, v in v1.items() if k not in ("area1", "purpose")}
            assert {k: v2[k] for k in untouched} == untouched
            assert v2["area1"][0] == v1["area1"][0]
            assert len(actions(db, first.id)) == 1  # the version is the record of the resubmission

            # The reviewer is told; accepts.
            await staff.replies()
            assert "Đoàn phường Vĩnh Bảo đã sửa và gửi lại kế hoạch “3 chủ động” năm 2027 (phiên bản 2)." in staff.text
            await staff.press("Mở kế hoạch")
            assert "Phiên bản 2" in staff.last[-1]["text"]
            await staff.press("Chấp nhận")
            assert "Đã chấp nhận kế hoạch năm 2027 của Đoàn phường Vĩnh Bảo (phiên bản 2)." in staff.text
            accepted = registration(db)
            assert accepted.status == RegistrationStatus.reviewed
            assert [a.action for a in actions(db, first.id)] == ["return", "accept"]
            await sec.replies()
            assert "đã chấp nhận kế hoạch “3 chủ động” năm 2027" in sec.text

            # Read-only for the secretary: /dangky and the notice's old button.
            await sec.say("/dangky 2027")
            assert "không thể sửa nữa" in sec.text
            await sec.send_frame({"type": "button", "payload": fix})
            assert "không thể sửa nữa" in sec.text
            assert registration(db).version == 2

            # Year-end rating, task by task: three passed (a note on the first), the fourth not.
            await staff.say("/duyet RG-VB")
            await staff.press("Đánh giá cuối năm")
            assert "phần việc 1/4" in staff.text
            await press_exact(staff, "✅ Đạt")
            assert "Ghi chú về phần việc này" in staff.text
            await staff.say("Đã cập nhật đủ 100% đoàn viên")
            assert "Phần việc 1: Đạt." in staff.text and "phần việc 2/4" in staff.text
            for _ in range(2):
                await press_exact(staff, "✅ Đạt")
                await staff.press("Bỏ qua")
            await press_exact(staff, "❌ Không đạt")
            await staff.press("Bỏ qua")
            rated = ratings(db, first.id)
            assert [(r.task, r.item, r.result) for r in rated] == [
                (1, "1.1", "passed"),
                (2, "1.4", "passed"),
                (3, "2.3", "passed"),
                (4, "3.1", "not_passed"),
            ]
            assert rated[0].note == "Đã cập nhật đủ 100% đoàn viên" and rated[1].note is None
            rate_actions = [a for a in actions(db, first.id) if a.action == "rate"]
            assert [a.detail["task"] for a in rate_actions] == [1, 2, 3, 4]
            assert rate_actions[0].note == "Đã cập nhật đủ 100% đoàn viên"

            # The rule (every task passed) proposes "not passed"; the reviewer overrides, with a reason.
            assert "Đánh giá cuối năm 2027 của Đoàn phường Vĩnh Bảo: 3/4 phần việc đạt." in staff.text
            assert "đạt từ 100% số phần việc đã đăng ký trở lên), kết quả đề xuất: Không đạt." in staff.text
            await staff.press("Đổi thành: Đạt")
            await staff.say("Phần việc 4 đã tổ chức xong ngày 20/12, sau đợt kiểm tra")
            await staff.press("Lưu kết quả")
            assert "Đã lưu kết quả đánh giá năm 2027 của Đoàn phường Vĩnh Bảo: Đạt." in staff.text
            final = registration(db)
            assert (final.status, final.result) == (RegistrationStatus.reviewed, "passed")
            result = actions(db, first.id)[-1]
            assert result.action == "result" and result.account_id == people["staff"]
            assert result.detail == {"proposed": "not_passed", "result": "passed", "overridden": True}
            assert result.note == "Phần việc 4 đã tổ chức xong ngày 20/12, sau đợt kiểm tra"
            await sec.replies()
            assert "3/4 phần việc đạt. Kết quả: đơn vị được công nhận Đoàn cơ sở “3 chủ động”." in sec.text
    finally:
        await app.stop()


async def test_proposal_confirmed_and_a_double_press_stores_once(settings, db, people):
    await proposal_round(settings, db, people)


async def test_proposal_and_double_press_on_postgresql(pg_url):
    settings = make_settings(pg_url)
    engine = make_db(pg_url)
    try:
        upgrade(engine)
        seed_org(engine)
        people = {
            "sec": add_member(engine, "sec", "Lê Văn Cường", "RG-VB", "secretary"),
            "staff": add_member(engine, "staff", "Trần Thị Bình", "RG", "district_staff"),
        }
        await proposal_round(settings, engine, people)
    finally:
        engine.dispose()


async def proposal_round(settings, db, people) -> None:
    """Accept (pressed twice), rate every task passed, confirm the proposal (pressed twice), rate
    a task again (its button pressed twice): each stored once."""
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    app = await started(settings, 2027, 12, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/duyet RG-VB")
            accept = staff.button("Chấp nhận")
            await staff.press("Chấp nhận")
            await staff.send_frame({"type": "button", "payload": accept})  # pressed again
            assert "Kế hoạch đã thay đổi kể từ khi nút này được gửi" in staff.text
            assert [a.action for a in actions(db, reg_id)] == ["accept"]

            await staff.say("/duyet danhgia")
            assert "Kế hoạch đã chấp nhận, chưa đánh giá cuối năm: 1" in staff.text
            await staff.press("RG-VB")
            await staff.press("Đánh giá cuối năm")
            for _ in range(4):
                await press_exact(staff, "✅ Đạt")
                await staff.press("Bỏ qua")
            assert "kết quả đề xuất: Đạt." in staff.text
            confirm = staff.button("Xác nhận: Đạt")
            await staff.press("Xác nhận: Đạt")
            assert "Đã lưu kết quả đánh giá năm 2027" in staff.text
            await staff.send_frame({"type": "button", "payload": confirm})
            assert "Kế hoạch đã thay đổi" in staff.text
            results = [a for a in actions(db, reg_id) if a.action == "result"]
            assert len(results) == 1
            assert results[0].detail == {"proposed": "passed", "result": "passed", "overridden": False}
            assert registration(db).result == "passed"
            assert len(ratings(db, reg_id)) == 4
            # A rating button pressed again after its note was stored: nothing stored twice.
            await staff.say("/duyet RG-VB")
            await staff.press("Đánh giá cuối năm")  # all rated: the proposal again
            await staff.press("Đánh giá lại từ phần việc 1")
            grade = staff.button("Không đạt")
            await press_exact(staff, "❌ Không đạt")
            await staff.press("Bỏ qua")
            await staff.send_frame({"type": "button", "payload": grade})
            assert "Phần việc 1 đã được đánh giá sau khi nút này được gửi" in staff.text
            assert len([a for a in actions(db, reg_id) if a.action == "rate"]) == 5
            assert ratings(db, reg_id)[0].result == "not_passed"
    finally:
        await app.stop()


async def test_the_queue_is_oldest_first_and_paginated(settings, db, people):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        rg = uow.units.by_code("RG")
        for n in range(1, 11):
            uow.units.add(
                code=f"RG-X{n:02}", name=f"Đoàn xã Thử {n:02}", kind="base_unit", parent=rg, reviews=False, now=now
            )
    for n in range(1, 11):  # RG-X01 sent first
        submit_direct(db, f"RG-X{n:02}", people["sec"])
    app = await started(settings, 2026, 10, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "ct") as ct:
            await staff.say("/duyet")
            assert "Kế hoạch chờ kiểm tra, đánh giá: 10 (cũ nhất trước, trang 1/2)." in staff.text
            page = labels(staff)
            assert [label.split(" · ")[0] for label in page[:8]] == [f"RG-X{n:02}" for n in range(1, 9)]
            assert page[8:] == ["Trang sau »"]
            await staff.press("Trang sau")
            assert "trang 2/2" in staff.text
            assert labels(staff) == [
                "RG-X09 · Đoàn xã Thử 09 · 2027 · v1",
                "RG-X10 · Đoàn xã Thử 10 · 2027 · v1",
                "« Trang trước",
            ]
            await staff.send_frame({"type": "button", "payload": "dv:p:k:40"})  # past the end: the last page
            assert "trang 2/2" in staff.text
            await staff.say("/duyet thu 0")  # several units match: a choice
            assert "Đồng chí chọn đơn vị nào?" in staff.text and len(labels(staff)) == 10
            await staff.press("RG-X03")
            assert "Đoàn xã Thử 03 (RG-X03)" in staff.text
            await ct.say("/duyet")
            assert "Không có kế hoạch nào đang chờ kiểm tra, đánh giá" in ct.text
    finally:
        await app.stop()


# ---- access -------------------------------------------------------------------------------------


async def test_access_rules(settings, db, people):
    vb = submit_direct(db, "RG-VB", people["sec"])
    cd = submit_direct(db, "KG-CD", people["cd"])
    app = await started(settings, 2026, 10, 20, 9, 0)
    try:
        async with (
            WebUser(app, "ct") as ct,
            WebUser(app, "sec") as sec,
            WebUser(app, "nobody") as nobody,
            WebUser(app, "kg") as kg,
        ):
            # Another district's staff: typed, and a forged button.
            await ct.say("/duyet")
            assert "Không có kế hoạch nào đang chờ kiểm tra, đánh giá" in ct.text
            await ct.say("/duyet RG-VB")
            assert "Không tìm thấy đơn vị “RG-VB” trong các đơn vị đồng chí phụ trách" in ct.text
            for forged in (f"dv:o:{vb}", f"dv:a:{vb}:1:s", f"dv:c:{vb}:1:4"):
                await ct.send_frame({"type": "button", "payload": forged})
                assert ct.text == "Nút này không còn dùng được nữa."  # refused, and the unit not named
            # A secretary, and someone with no role.
            await sec.say("/duyet")
            assert "không được dùng lệnh /duyet" in sec.text
            await sec.send_frame({"type": "button", "payload": f"dv:a:{vb}:1:s"})
            assert "Chỉ cán bộ Đoàn cấp trên mới kiểm tra, đánh giá được" in sec.text
            await nobody.say("/duyet")
            assert "mã mời" in nobody.text
            await nobody.send_frame({"type": "button", "payload": f"dv:a:{vb}:1:s"})
            assert registration(db).status == RegistrationStatus.submitted
            assert actions(db, vb) == []
            # Garbage ids are refused, not crashed on.
            for junk in ("dv:o:²", "dv:a:99999999999999999999:1:s", "dv:zz:1", "dv:p:k:-1", f"dv:r:{vb}:1:zz"):
                await kg.send_frame({"type": "button", "payload": junk})
                assert "Nút này" in kg.text or "không còn" in kg.text, kg.text

            # The province's staff: a base unit directly under it, and the whole subtree.
            await kg.say("/duyet")
            assert "Kế hoạch chờ kiểm tra, đánh giá: 2" in kg.text
            await kg.say("/duyet cao dang kien giang")
            await kg.press("Chấp nhận")
            assert registration(db, "KG-CD").status == RegistrationStatus.reviewed
            await kg.say("/duyet vinh bao")
            await kg.press("Trả lại để sửa")
            await kg.press("Phần việc 1")
            await kg.press("Tiếp")
            await kg.say("Cần ghi rõ thời gian hoàn thành")
            await kg.press("Trả lại kế hoạch")
            assert registration(db).status == RegistrationStatus.returned
            assert [a.action for a in actions(db, cd)] == ["accept"]
            assert [a.account_id for a in actions(db, vb)] == [people["kg"]]
    finally:
        await app.stop()


async def test_stale_buttons_and_changes_under_an_edit(settings, db, people):
    submit_direct(db, "RG-VB", people["sec"])
    app = await started(settings, 2026, 10, 12, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "kg") as kg, WebUser(app, "sec") as sec:
            # The secretary begins editing the whole plan (a new version).
            await sec.say("/dangky 2027")
            await sec.press("Sửa kế hoạch")
            # Two reviewers have the plan open; one returns it.
            await kg.say("/duyet RG-VB")
            await staff.say("/duyet RG-VB")
            await staff.press("Trả lại để sửa")
            await staff.press("Mục III")
            await staff.press("Tiếp")
            await staff.say("Mục III cần phân công cụ thể")
            await staff.press("Trả lại kế hoạch")
            # The other's accept button was for the submitted plan: stale, and said who acted.
            await kg.press("Chấp nhận")
            assert "đồng chí Trần Thị Bình đã xử lý lúc" in kg.text
            assert registration(db).status == RegistrationStatus.returned
            # The secretary leaves the whole-plan edit; /dangky now walks the returned part only.
            await sec.replies()
            await sec.say("/huy")
            await sec.say("/dangky 2027")
            assert "Các phần cần sửa: Mục III" in sec.text
            await sec.say("Giao từng đồng chí Ủy viên Ban Chấp hành phụ trách từng phần việc, báo cáo hằng quý.")
            assert "Vui lòng kiểm tra lại" in sec.text
            correction = sec.button("Gửi kế hoạch")
            # Accepted while the correction is under way: the correction is refused.
            await kg.say("/duyet RG-VB")
            await kg.press("Chấp nhận")
            assert registration(db).status == RegistrationStatus.reviewed
            await sec.replies()  # told it was accepted
            await sec.send_frame({"type": "button", "payload": correction})
            assert "không thể sửa nữa" in sec.text
            assert registration(db).version == 1
    finally:
        await app.stop()


async def test_a_return_while_the_secretary_edits_the_whole_plan(settings, db, people):
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    app = await started(settings, 2026, 10, 12, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "sec") as sec:
            await sec.say("/dangky 2027")
            await sec.press("Sửa kế hoạch")
            assert "Vui lòng kiểm tra lại" in sec.text  # the whole plan, at its summary
            whole = sec.button("Gửi kế hoạch")
            await staff.say("/duyet RG-VB")
            await staff.press("Trả lại để sửa")
            await staff.press("Phần việc 3")
            await staff.press("Tiếp")
            await staff.say("Cần nêu rõ số chi đoàn")
            await staff.press("Trả lại kế hoạch")
            await sec.replies()
            # The whole-plan edit, sent now: refused, nothing stored.
            await sec.send_frame({"type": "button", "payload": whole})
            assert "Đoàn cấp trên đã trả lại kế hoạch này để sửa" in sec.text
            row = registration(db)
            assert (row.status, row.version) == (RegistrationStatus.returned, 1)
            # /dangky now walks the returned part only.
            await sec.say("/dangky 2027")
            assert "Các phần cần sửa: Phần việc 3 (2.3)" in sec.text
            assert [a.action for a in actions(db, reg_id)] == ["return"]
    finally:
        await app.stop()


# ---- reports ------------------------------------------------------------------------------------


async def test_reports_queue_and_accept(settings, db, people):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        report_id = uow.reports.add(
            unit_id=unit.id,
            kind="meeting",
            held_on=datetime(2026, 10, 5).date(),
            data={
                "held_on": "2026-10-05",
                "kind": "regular",
                "theme": "Sinh hoạt tháng 10",
                "members": 20,
                "present": 18,
            },
            account_id=people["sec"],
            now=now,
        )
    app = await started(settings, 2026, 10, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "ct") as ct, WebUser(app, "sec") as sec:
            await ct.send_frame({"type": "button", "payload": f"dv:ra:{report_id}:1"})
            assert ct.text == "Nút này không còn dùng được nữa."
            await staff.say("/duyet baocao")
            assert "Báo cáo chờ kiểm tra, đánh giá: 1" in staff.text
            await staff.press("05/10/2026")
            accept = staff.button("Chấp nhận")
            await staff.press("Chấp nhận")
            assert "Đã chấp nhận báo cáo ngày 05/10/2026 của Đoàn phường Vĩnh Bảo." in staff.text
            await staff.send_frame({"type": "button", "payload": accept})
            assert "Báo cáo đã thay đổi" in staff.text
            with db.connect() as conn:
                assert conn.execute(select(P.c.status).where(P.c.id == report_id)).scalar_one() == "reviewed"
                rows = list(conn.execute(select(A).where(A.c.report_id == report_id)))
            assert [(r.action, r.account_id) for r in rows] == [("accept", people["staff"])]
            await sec.replies()
            assert "đã chấp nhận báo cáo ngày 05/10/2026" in sec.text
            await staff.say("/duyet baocao")
            assert "Không có báo cáo sinh hoạt hoặc đối thoại nào đang chờ kiểm tra, đánh giá." in staff.text
    finally:
        await app.stop()


# ---- the programme's rule -------------------------------------------------------------------------


def test_recognition_rule_is_read_and_checked(tmp_path):
    from chidoan.programmes.loader import PROGRAMMES_DIR

    three = load_programme(PROGRAMMES_DIR / "three_proactives_2023_2027.yaml")
    assert three.recognition.min_passed_share == 1.0
    assert three.recognition.proposes(4, 4) and not three.recognition.proposes(3, 4)
    assert Recognition(min_passed_share=0.8).proposes(4, 5) and not Recognition(min_passed_share=0.8).proposes(3, 5)
    assert not three.recognition.proposes(0, 0)
    source = (PROGRAMMES_DIR / "three_proactives_2023_2027.yaml").read_text(encoding="utf-8")
    text = source.replace("  min_passed_share: 1.0", "  min_passed_share: 1.5")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(
        f"broken.yaml, line {line_of(text, 'min_passed_share: 1.5')}: recognition → min_passed_share:"
    )
    text = source.replace("  min_passed_share: 1.0", "  min_pased_share: 1.0")
    (problem,) = problems_of(tmp_path, text)
    assert "unknown key" in problem and f"line {line_of(text, 'min_pased_share')}" in problem


# ---- through the fake Telegram Bot API ------------------------------------------------------------


async def test_return_correct_resubmit_through_telegram(settings, db, org, tg):
    from tests.test_telegram import TgUser, tg_settings

    sec_id = add_member(db, "5005", "Lê Văn Cường", "RG-VB", "secretary", channel="telegram")
    add_member(db, "7007", "Trần Thị Bình", "RG", "district_staff", channel="telegram")
    reg_id = submit_direct(db, "RG-VB", sec_id)
    v1 = version_data(db, reg_id, 1)
    app = App(tg_settings(settings, tg))
    await app.start()
    try:
        staff = TgUser(tg, db, 7007, language="vi")
        sec = TgUser(tg, db, 5005, language="vi")
        await staff.say("/duyet")
        await staff.press("RG-VB")
        assert any(c.status == 200 and str(c.params["chat_id"]) == "7007" for c in tg.calls_of("sendDocument"))
        await staff.press("Trả lại để sửa")
        await staff.press("Phần việc 2 (1.4)")
        await staff.press("Tiếp")
        await staff.say(COMMENT)
        await staff.press("Trả lại kế hoạch")
        assert registration(db).status == RegistrationStatus.returned

        await sec.replies()
        assert "Các phần cần sửa: Phần việc 2 (1.4)" in sec.text
        await sec.press("Sửa kế hoạch")
        await sec.press("1.4")
        await sec.say("Lập danh sách 30 thanh niên khó khăn để giúp đỡ")
        await sec.say("quý IV")
        await sec.press("Ban Thường vụ")
        await sec.press("Bỏ qua")
        assert "Vui lòng kiểm tra lại các câu trả lời" in sec.text
        await sec.press("Gửi kế hoạch")
        row = registration(db)
        assert (row.status, row.version) == (RegistrationStatus.submitted, 2)
        v2 = version_data(db, reg_id, 2)
        assert v2["area1"][1]["what"] == "Lập danh sách 30 thanh niên khó khăn để giúp đỡ"
        assert {k: v for k, v in v2.items() if k != "area1"} == {k: v for k, v in v1.items() if k != "area1"}
        assert [v2["area1"][0]] == [v1["area1"][0]]
        await staff.replies()
        # The notice carries the corrected plan's .docx: on Telegram, its text is the caption.
        *_, notice = [c for c in tg.calls_of("sendDocument") if c.status == 200 and c.params["chat_id"] == 7007]
        assert "Đoàn phường Vĩnh Bảo đã sửa và gửi lại kế hoạch" in notice.params["caption"]
        assert [a.action for a in actions(db, reg_id)] == ["return"]
    finally:
        await app.stop()


def test_a_correction_takes_only_the_reopened_parts():
    """Whatever the correction's answers hold, only the returned parts come from them."""
    from chidoan.handlers.registration import _corrected
    from chidoan.programmes.loader import PROGRAMMES_DIR

    programme = load_programme(PROGRAMMES_DIR / "three_proactives_2023_2027.yaml")
    previous = plan_data()
    edited = plan_data(purpose="Mục đích mới", implementation="Đổi cả mục III")
    for area in ("area1", "area2", "area3"):
        for task in edited[area]:
            task["what"] = "đổi"
    merged = _corrected(programme, previous, edited, ["task:2", "section:I"])
    assert merged["purpose"] == "Mục đích mới" and merged["implementation"] == previous["implementation"]
    assert merged["area1"][1]["what"] == "đổi"
    assert [t["what"] for t in merged["area1"][:1] + merged["area2"] + merged["area3"]] == [
        t["what"] for t in previous["area1"][:1] + previous["area2"] + previous["area3"]
    ]
    assert previous == plan_data()  # the returned version itself is not touched


# ---- ratings belong to the version rated ----------------------------------------------------------


def new_version(db, reg_id: int, data: dict, account_id: int, **kwargs) -> None:
    """A new version of the plan, stored the way /dangky stores one."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        reg = uow.registrations.one(reg_id)
        doc = uow.documents.add(kind="plan", filename=plan_filename("X", 2027), content=b"docx", now=now)
        uow.registrations.add_version(
            reg, data=data, account_id=account_id, now=now, on_time=True, document_id=doc, **kwargs
        )


async def test_a_new_version_drops_the_ratings_of_the_old(settings, db, people):
    """The reviewer rates v1's four tasks; the secretary then sends v2 (task 1 replaced, task 4
    gone): no rating of v1 is shown, asked over or counted against v2's tasks, and the audit
    trail of the old ratings stays."""
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    app = await started(settings, 2027, 12, 10, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/duyet RG-VB")
            await staff.press("Đánh giá cuối năm")
            for _ in range(4):
                await press_exact(staff, "✅ Đạt")
                await staff.press("Bỏ qua")
            assert "4/4 phần việc đạt" in staff.text
            assert len(ratings(db, reg_id)) == 4

            data = plan_data()
            data["area1"][0] = {"item": "1.2", "what": "Một việc hoàn toàn khác", "when": "quý IV", "who": "BTV"}
            data["area3"] = []
            new_version(db, reg_id, data, people["sec"])
            assert registration(db).version == 2
            assert ratings(db, reg_id) == []  # v1's ratings went with v1
            assert [a.detail["version"] for a in actions(db, reg_id) if a.action == "rate"] == [1, 1, 1, 1]

            await staff.say("/duyet RG-VB")
            plan = staff.last[-1]["text"]
            assert "Phiên bản 2" in plan and "Một việc hoàn toàn khác" in plan
            assert " — Đạt" not in plan  # no task shown as rated
            await staff.press("Đánh giá cuối năm")
            assert "phần việc 1/3" in staff.text and "Đánh giá đến nay" not in staff.text
            for _ in range(3):
                await press_exact(staff, "✅ Đạt")
                await staff.press("Bỏ qua")
            assert "3/3 phần việc đạt" in staff.text
            await staff.press("Xác nhận: Đạt")
            assert registration(db).result == "passed"
            assert [(r.task, r.item) for r in ratings(db, reg_id)] == [(1, "1.2"), (2, "1.4"), (3, "2.3")]
    finally:
        await app.stop()


def test_a_correction_drops_the_ratings_of_the_returned_version(db, people):
    """Rated, then returned for task 1, then corrected: v1's rating of the replaced task is gone."""
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        reg = uow.registrations.one(reg_id)
        for n, item in enumerate(["1.1", "1.4", "2.3", "3.1"], 1):
            uow.reviews.rate(
                reg, task=n, item=item, result="passed", seen=None, note=None, account_id=people["staff"], now=now
            )
        uow.reviews.give_back(
            reg, parts=["task:1"], comment="Phần việc 1 chưa cụ thể", account_id=people["staff"], now=now
        )
    data = plan_data()
    data["area1"][0] = {"item": "1.2", "what": "Việc mới thay phần việc 1", "when": "quý IV", "who": "BTV"}
    new_version(db, reg_id, data, people["sec"], expected_status="returned")
    assert ratings(db, reg_id) == []
    assert [a.action for a in actions(db, reg_id)] == ["rate"] * 4 + ["return"]
    # A version refused (here: not the one it was started from) deletes nothing.
    with unit_of_work(db) as uow:
        reg = uow.registrations.one(reg_id)
        uow.reviews.rate(
            reg, task=1, item="1.2", result="passed", seen=None, note=None, account_id=people["staff"], now=now
        )
    stale = SimpleNamespace(**(registration(db)._asdict() | {"version": 1}))
    with pytest.raises(NewerVersion), unit_of_work(db) as uow:
        doc = uow.documents.add(kind="plan", filename=plan_filename("X", 2027), content=b"docx", now=now)
        uow.registrations.add_version(
            stale, data=data, account_id=people["sec"], now=now, on_time=True, document_id=doc
        )
    assert [(r.task, r.item) for r in ratings(db, reg_id)] == [(1, "1.2")]


async def test_the_result_counts_only_the_ratings_of_the_current_tasks(settings, db, people):
    """A rating left at a position the plan no longer has (as stored before ratings were dropped
    with their version) is neither asked for, nor counted in the proposal or the unit's notice."""
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    data = plan_data()
    data["area3"] = []  # three tasks
    new_version(db, reg_id, data, people["sec"])
    with db.begin() as conn:  # left over at task 4
        conn.execute(
            IR.insert().values(
                registration_id=reg_id,
                task=4,
                item="3.1",
                result="passed",
                rated_by=people["staff"],
                rated_at=datetime.now(UTC),
            )
        )
    app = await started(settings, 2027, 12, 10, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "sec") as sec:
            await staff.say("/duyet RG-VB")
            await staff.press("Đánh giá cuối năm")
            assert "phần việc 1/3" in staff.text
            await press_exact(staff, "❌ Không đạt")
            await staff.press("Bỏ qua")
            for _ in range(2):
                await press_exact(staff, "✅ Đạt")
                await staff.press("Bỏ qua")
            assert "2/3 phần việc đạt" in staff.text
            await staff.press("Xác nhận: Không đạt")
            await sec.replies()
            assert "2/3 phần việc đạt" in sec.text, sec.text
    finally:
        await app.stop()


# ---- whoever returned the plan is sent the correction while they still review the unit -------------


async def correct_section_i(sec: WebUser, purpose: str) -> None:
    await sec.say("/dangky 2027")
    assert "Các phần cần sửa: Mục I" in sec.text
    await sec.say(purpose)
    await sec.press("Gửi kế hoạch")
    assert "(phiên bản" in sec.text


def give_back(db, reg_id: int, account_id: int) -> None:
    with unit_of_work(db) as uow:
        reg = uow.registrations.one(reg_id)
        uow.reviews.give_back(
            reg, parts=["section:I"], comment="Sửa mục I cho cụ thể", account_id=account_id, now=datetime.now(UTC)
        )


def docx_files(messages: list[dict]) -> list[str]:
    return [m["file"]["filename"] for m in messages if m.get("file", {}).get("filename", "").endswith(".docx")]


async def test_the_correction_goes_to_whoever_returned_it_only_while_they_review_the_unit(settings, db, people):
    reg_id = submit_direct(db, "RG-VB", people["sec"])
    give_back(db, reg_id, people["kg"])  # the province's staff returns it
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "sec") as sec, WebUser(app, "kg") as kg, WebUser(app, "staff") as staff:
            await kg.replies()
            await staff.replies()
            # Still province staff: sent the corrected plan.
            await correct_section_i(sec, "Mục đích mới, sát với tình hình phường Vĩnh Bảo năm 2027.")
            got = await kg.replies()
            assert docx_files(got) and "đã sửa và gửi lại kế hoạch" in kg.text
            assert docx_files(await staff.replies())  # the reviewing union's staff, as ever

            # Returned again; then they leave the province and become staff of another district.
            give_back(db, reg_id, people["kg"])
            now = datetime.now(UTC)
            with unit_of_work(db) as uow:
                (role,) = uow.roles.active_of(people["kg"])
                uow.roles.revoke(role.id, reason="moved", now=now)
                uow.roles.grant(
                    account_id=people["kg"],
                    unit_id=uow.units.by_code("CT").id,
                    role="district_staff",
                    invite_id=None,
                    now=now,
                )
            await correct_section_i(sec, "Mục đích sửa lần hai, sát với tình hình phường Vĩnh Bảo.")
            assert registration(db).version == 3
            got = await kg.replies()
            assert not docx_files(got) and "Vĩnh Bảo" not in " ".join(m.get("text", "") for m in got)
            assert docx_files(await staff.replies())

            # Returned a third time, then they leave altogether.
            give_back(db, reg_id, people["kg"])
            with unit_of_work(db) as uow:
                for role in uow.roles.active_of(people["kg"]):
                    uow.roles.revoke(role.id, reason="left", now=now)
            await correct_section_i(sec, "Mục đích sửa lần ba, sát với tình hình phường Vĩnh Bảo.")
            assert registration(db).version == 4
            got = await kg.replies()
            assert not docx_files(got) and "Vĩnh Bảo" not in " ".join(m.get("text", "") for m in got)
    finally:
        await app.stop()


# ---- a correction after the deadline is not a late plan -------------------------------------------


async def test_a_correction_after_the_deadline_is_not_called_late(settings, db, people):
    """Sent on time, returned after the 15/10 deadline, corrected: told it was sent again as
    corrected (not "late"), and the version keeps the registration's on-time judgement; a
    voluntary edit after the deadline is still a late version."""
    reg_id = submit_direct(db, "RG-VB", people["sec"])  # v1 on time
    give_back(db, reg_id, people["staff"])
    app = await started(settings, 2026, 11, 5, 9, 0)
    try:
        async with WebUser(app, "sec") as sec:
            await correct_section_i(sec, "Mục đích mới, sát với tình hình phường Vĩnh Bảo năm 2027.")
            assert "Đã gửi lại bản sửa kế hoạch năm 2027 (phiên bản 2)" in sec.text
            assert "trễ hạn" not in sec.text and "đúng hạn" not in sec.text
            assert any(m.get("file", {}).get("filename", "").endswith(".docx") for m in sec.last)
            await sec.say("/trangthai")
            assert "(đúng hạn)" in sec.text
            # A whole-plan edit after the deadline: a late version, said so.
            await sec.say("/dangky 2027")
            await sec.press("Sửa kế hoạch")
            await sec.press("Gửi kế hoạch")
            assert "(phiên bản 3), trễ hạn" in sec.text
    finally:
        await app.stop()
    with db.connect() as conn:
        reg = conn.execute(select(R).where(R.c.id == reg_id)).one()
        on_time = dict(conn.execute(select(V.c.version, V.c.on_time).where(V.c.registration_id == reg_id)).all())
    assert reg.on_time is True
    assert on_time == {1: True, 2: True, 3: False}


# ---- a forged button does not name a unit outside the subtree --------------------------------------


async def test_forged_buttons_name_no_unit_outside_the_subtree(settings, db, people):
    vb = submit_direct(db, "RG-VB", people["sec"])
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        report_id = uow.reports.add(
            unit_id=uow.units.by_code("RG-VB").id,
            kind="meeting",
            held_on=datetime(2026, 10, 5).date(),
            data={"held_on": "2026-10-05", "kind": "regular", "theme": "Sinh hoạt", "members": 20, "present": 18},
            account_id=people["sec"],
            now=now,
        )
    with db.connect() as conn:
        units = list(conn.execute(select(U.c.id, U.c.code, U.c.name)))
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "ct") as ct:  # staff of Châu Thành only
            await ct.send_frame({"type": "button", "payload": "dv:u:99999"})
            missing = ct.text
            assert missing == "Nút này không còn dùng được nữa."
            outside = [u for u in units if not u.code.startswith("CT")]
            payloads = [f"dv:u:{u.id}" for u in outside]
            payloads += [f"dv:o:{vb}", f"dv:a:{vb}:1:s", f"dv:e:{vb}:1", f"dv:ro:{report_id}", f"dv:ra:{report_id}:1"]
            for payload in payloads:
                await ct.send_frame({"type": "button", "payload": payload})
                assert ct.text == missing, (payload, ct.text)
            # Typed: a code outside the subtree is answered as one that does not exist.
            await ct.say("/duyet RG-VB")
            outside_code = ct.text
            await ct.say("/duyet ZZ-VB")
            assert outside_code.replace("RG-VB", "ZZ-VB") == ct.text
            await ct.say("/duyet vinh bao")
            assert "Vĩnh Bảo" not in ct.text.replace("“vinh bao”", "")
            # Its own units still open.
            await ct.send_frame({"type": "button", "payload": f"dv:u:{next(u.id for u in units if u.code == 'CT-ML')}"})
            assert ct.text == "Đoàn xã Minh Lương chưa gửi kế hoạch nào từ năm 2025 trở đi."
    finally:
        await app.stop()
