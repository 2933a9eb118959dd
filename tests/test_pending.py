"""/chuanop end to end through the web chat: what the units below a reviewing unit still owe,
by obligation, with days left or late, checked against what was stored; the nudge button stores
a request as /nhacnho's does, only within the allowed hours; a forged button and a secretary are
refused."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select

from chidoan.storage.models import NudgeRequest, RoleAssignment, table
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member
from tests.test_status import NOON, at, build, started


def nudges(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(table(NudgeRequest)).order_by(table(NudgeRequest).c.id)))


def branches(db, ids) -> None:
    """KP1's secretary joined on 1/9 and it reported no October meeting; KP2 reported one."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        vb = uow.units.one(ids["RG-VB"])
        kp2 = uow.units.add(
            code="RG-VB-KP2", name="Chi đoàn Khu phố 2", kind="branch", parent=vb, reviews=False, now=now
        )
        writer = uow.accounts.create_with_identity(
            channel="web", external_id="b", chat_id="b", display_name="B", locale="vi", now=now, full_name="B"
        ).account_id
        for unit_id in (ids["RG-VB-KP1"], kp2.id):
            uow.conn.execute(
                table(RoleAssignment)
                .insert()
                .values(account_id=writer, unit_id=unit_id, role="secretary", granted_at=at(2026, 9, 1, 9))
            )
        uow.reports.add(
            unit_id=kp2.id, kind="meeting", held_on=datetime(2026, 10, 12).date(), data={}, account_id=writer, now=now
        )


async def test_what_is_owed_by_obligation_and_the_nudge_button(settings, db):
    ids = build(db)
    branches(db, ids)
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "rg") as staff:
            replies = await staff.say("/chuanop")
            nudged = await staff.press("Nhắc những đơn vị này")
            await app.nudges.settled()
    finally:
        await app.stop()
    texts = [m["text"] for m in replies]
    assert texts[0] == "Thành đoàn Rạch Giá: những việc các đơn vị còn nợ, tính đến ngày 20/11/2026."
    plan, dialogue, meeting, commitment = texts[1:5]
    assert plan.splitlines() == [
        "📝 Kế hoạch năm 2027 (hạn trước 15/10/2026): 3 đơn vị chưa gửi",
        "• Đoàn RG-DRAFT (RG-DRAFT): trễ 37 ngày",
        "• Đoàn RG-MISS (RG-MISS): trễ 37 ngày",
        "• Đoàn RG-OLD (RG-OLD): trễ 37 ngày",
    ]
    assert dialogue.splitlines()[0] == "🗣 Đối thoại năm 2026 (hạn trước 15/12/2026): 8 đơn vị chưa báo cáo"
    owing = sorted(line.split("(")[1].split(")")[0] for line in dialogue.splitlines()[1:])
    assert owing == ["RG-ACC", "RG-DRAFT", "RG-FAIL", "RG-LATE", "RG-MISS", "RG-NEW", "RG-PASS", "RG-RET"]
    assert all(line.endswith("còn 25 ngày") for line in dialogue.splitlines()[1:])
    assert meeting.splitlines() == [
        "👥 Sinh hoạt chi đoàn tháng 10/2026 (hạn trước 06/11/2026): 1 chi đoàn chưa báo cáo",
        "• Chi đoàn Khu phố 1 (RG-VB-KP1): trễ 15 ngày",
    ]
    assert commitment.splitlines() == [
        "🤝 Cam kết đã đến hạn chưa được trả lời theo dõi: 1 đơn vị",
        "• Đoàn phường Vĩnh Bảo (RG-VB): 2 cam kết, trễ 81 ngày",
    ]
    assert texts[5] == "Đã hết danh sách."
    assert nudged[0]["text"].startswith("Thành đoàn Rạch Giá:")
    [request] = nudges(db)
    assert (request.unit_id, request.kind, request.done_at is not None) == (ids["RG"], "send", True)


async def test_pages_of_twenty_in_a_group(settings, db, org):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        ct = uow.units.by_code("CT")
        for i in range(24):
            uow.units.add(
                code=f"CT-{i:02d}", name=f"Đoàn xã Số {i:02d}", kind="base_unit", parent=ct, reviews=False, now=now
            )
    add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    with unit_of_work(db) as uow:
        account = uow.accounts.sender("web", "ct").account_id
        for unit in uow.units.subtree(uow.units.by_code("CT")):
            if unit.kind == "base_unit":
                uow.conn.execute(
                    table(RoleAssignment)
                    .insert()
                    .values(account_id=account, unit_id=unit.id, role="secretary", granted_at=at(2026, 1, 5, 9))
                )
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "ct") as staff:
            replies = await staff.say("/chuanop")
            staff.last = [replies[1]]
            second = await staff.press("Trang sau")
    finally:
        await app.stop()
    plan = replies[1]["text"].splitlines()
    assert plan[0].endswith("25 đơn vị chưa gửi") and plan[1] == "Trang 1/2:" and len(plan) == 22
    assert second[0]["text"].splitlines()[1] == "Trang 2/2:" and len(second[0]["text"].splitlines()) == 7


async def test_nudge_refused_outside_hours_with_a_forged_button_and_for_a_secretary(settings, db):
    ids = build(db)
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    app = await started(settings, 2026, 11, 20, 21, 0)
    try:
        async with WebUser(app, "rg") as staff:
            await staff.say("/chuanop")
            late = await staff.press("Nhắc những đơn vị này")
        async with WebUser(app, "ct") as other:
            forged = await other.send_frame({"type": "button", "payload": f"pd:{ids['RG']}:nudge:0:2027"})
            page = await other.send_frame({"type": "button", "payload": f"pd:{ids['RG']}:plan:1:2027"})
        async with WebUser(app, "sec") as secretary:
            refused = await secretary.say("/chuanop")
    finally:
        await app.stop()
    assert "07:30" in late[0]["text"] and "20:30" in late[0]["text"]
    assert forged[0]["text"] == page[0]["text"] == "Đơn vị này không thuộc phạm vi đồng chí phụ trách."
    assert refused[0]["text"].startswith("Vai trò của đồng chí không được dùng lệnh /chuanop.")
    assert nudges(db) == []


async def test_a_large_subtree_is_answered_by_a_job_with_the_same_lists(settings, db, monkeypatch):
    import chidoan.handlers.status as handler
    import chidoan.review.pending as pending

    ids = build(db)
    branches(db, ids)
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "rg") as staff:
            inline = await staff.say("/chuanop")
            monkeypatch.setattr(handler, "CHUNK", 4)
            for kind, read in list(pending.CHUNKED.items()):  # a unit or two a transaction
                monkeypatch.setitem(pending.CHUNKED, kind, partial(read, limit=1))
            deferred = await staff.say("/chuanop")
            await app.jobs.settled()
            deferred += await staff.replies()
    finally:
        await app.stop()
    assert deferred[0]["text"] == "Thành đoàn Rạch Giá: đang tổng hợp tình hình 12 đơn vị…"
    assert [m["text"] for m in deferred[1:]] == [m["text"] for m in inline]
    assert deferred[-1]["buttons"] == inline[-1]["buttons"]
