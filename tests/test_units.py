"""/donvi, /xem and /moi by name, and the notices that carry a document and a button, end to end
through the web chat (and one flow through the fake Telegram Bot API); every access rule of the
drill-down: staff see their subtree only, a base unit's secretary their branches, a branch's
secretary their branch, someone with no role nothing, and a forged button is refused."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from chidoan.bot.app import App
from chidoan.bot.orgmerge import merge_units
from chidoan.storage.models import (
    ChannelIdentity,
    CommitmentStatus,
    Invite,
    OrgUnit,
    Outbox,
    Prompt,
    RegistrationVersion,
    ReportKind,
    ReviewAction,
    RoleAssignment,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_meetings import report_until_photos
from tests.test_registration import PROGRAMME, TASKS, clock_at, register

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
NOT_FOUND = "Không có đơn vị nào có mã hoặc tên “{}” trong phạm vi đồng chí được xem."
INVALID = "Nút này không còn dùng được nữa."
OUT = Outbox.__table__


@pytest.fixture
def people(db, org):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        rg, vb = uow.units.by_code("RG"), uow.units.by_code("RG-VB")
        uow.units.add(code="RG-VB-KP2", name="Chi đoàn Khu phố 2", kind="branch", parent=vb, reviews=False, now=now)
        uow.units.add(code="RG-PT", name="Đoàn xã Phi Thông", kind="base_unit", parent=rg, reviews=False, now=now)
        uow.units.add(code="RG-VT", name="Đoàn phường Vĩnh Thanh", kind="base_unit", parent=rg, reviews=False, now=now)
        uow.units.add(
            code="RG-VTV", name="Đoàn phường Vĩnh Thanh Vân", kind="base_unit", parent=rg, reviews=False, now=now
        )
    return {
        "staff": add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff"),
        "sec": add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en"),
        "deputy": add_member(db, "deputy", "Võ Thị Lan", "RG-VB", "deputy"),
        "branch": add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en"),
        "ct": add_member(db, "ct", "Đặng Thu Hà", "CT", "district_staff"),
    }


async def started(settings, *local) -> App:
    app = App(settings, clock=clock_at(*local))
    await app.start()
    return app


def unit_id(db, code: str) -> int:
    with unit_of_work(db) as uow:
        return uow.units.by_code(code).id


def buttons(user: WebUser) -> list[dict]:
    return [b for m in user.last for row in m.get("buttons", []) for b in row]


def no_apology(user: WebUser) -> None:
    assert user.last and "problem on our side" not in user.text and "Xin lỗi" not in user.text


# ---- /donvi -----------------------------------------------------------------------------------


async def test_donvi_lists_the_subtree_as_a_tree_and_searches_without_accents(settings, db, people):
    with unit_of_work(db) as uow:  # enough branches for two pages
        vb = uow.units.by_code("RG-VB")
        for n in range(3, 23):
            uow.units.add(
                code=f"RG-VB-KP{n}",
                name=f"Chi đoàn Khu phố {n}",
                kind="branch",
                parent=vb,
                reviews=False,
                now=vb.created_at,
            )
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/donvi")
            assert "Các đơn vị thuộc Thành đoàn Rạch Giá (RG): tổng cộng 27, trang 1/2." in staff.text
            lines = staff.text.splitlines()
            assert "• Đoàn cấp trên trực tiếp cơ sở: Thành đoàn Rạch Giá — RG" in lines
            assert "    • Đoàn cơ sở: Đoàn phường Vĩnh Bảo — RG-VB" in lines
            assert "        • Chi đoàn: Chi đoàn Khu phố 1 — RG-VB-KP1" in lines  # a level deeper
            assert "CT-ML" not in staff.text and "Minh Lương" not in staff.text  # another district
            assert len([line for line in lines if line.strip().startswith("•")]) == 20
            await staff.press("Trang sau")
            assert "trang 2/2" in staff.text and "Đoàn xã Phi Thông — RG-PT" in staff.text
            assert [b["label"] for b in buttons(staff)] == ["« Trang trước"]
            await staff.send_frame({"type": "button", "payload": f"un:ls:{unit_id(db, 'RG')}:999"})
            assert "trang 2/2" in staff.text  # a page past the end: the last one
            await staff.send_frame({"type": "button", "payload": f"un:ls:{unit_id(db, 'CT')}:1"})  # forged
            assert staff.text == INVALID

            for typed in ("vinh bao", "vĩnh bảo", "VINH BAO", "rg-vb"):
                await staff.say(f"/donvi {typed}")
                assert f"Các đơn vị tìm được với “{typed}”:" in staff.text
                assert buttons(staff)[0]["label"] == "📂 Đoàn phường Vĩnh Bảo (RG-VB)", typed
            await staff.say("/units vinh thanh")
            assert [b["label"] for b in buttons(staff)] == [
                "📂 Đoàn phường Vĩnh Thanh (RG-VT)",
                "📂 Đoàn phường Vĩnh Thanh Vân (RG-VTV)",
            ]
            await staff.press("Vĩnh Thanh Vân")
            assert "🏢 Đoàn phường Vĩnh Thanh Vân" in staff.text and "Bí thư: chưa có người tham gia" in staff.text
            await staff.say("/donvi minh luong")  # exists, in another district
            assert staff.text == NOT_FOUND.format("minh luong")

        async with WebUser(app, "sec", language="en") as sec:  # a base unit's secretary: unit and branches
            await sec.say("/units")
            assert "Units of Đoàn phường Vĩnh Bảo (RG-VB): 23 in all, page 1 of 2." in sec.text
            assert "Vĩnh Thanh" not in sec.text and "Thành đoàn" not in sec.text.split("\n", 1)[1]
        async with WebUser(app, "branch", language="en") as branch:  # a branch's secretary: the branch
            await branch.say("/donvi")
            assert "Units of Chi đoàn Khu phố 1 (RG-VB-KP1): 1 in all, page 1 of 1." in branch.text
            await branch.say("/donvi khu pho")
            assert [b["label"] for b in buttons(branch)] == ["📂 Chi đoàn Khu phố 1 (RG-VB-KP1)"]
    finally:
        await app.stop()


# ---- the plan: notice with the document, the page, the plan section ---------------------------


async def test_the_plan_notice_carries_the_document_and_opens_the_unit_page(settings, db, people):
    zalo = add_member(db, "zalo-staff", "Ngô Văn Tâm", "RG", "district_staff", channel="zalo", locale="en")
    with unit_of_work(db) as uow:  # last wrote long ago: outside Zalo's window
        uow.conn.execute(
            ChannelIdentity.__table__.update()
            .where(ChannelIdentity.__table__.c.account_id == zalo)
            .values(last_seen_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec, WebUser(app, "staff") as staff:
            await register(sec)
            [notice] = await staff.replies()
            assert (
                notice["text"] == "Đoàn phường Vĩnh Bảo đã gửi kế hoạch “3 chủ động” năm 2027 (phiên bản 1), đúng hạn."
            )
            assert notice["file"]["filename"] == sec.last[0]["file"]["filename"]
            assert [b["label"] for b in buttons(staff)] == ["🔎 Xem"]

            await staff.say("1")  # typed, as on a channel without buttons: the notice's button
            page = staff.text
            assert page.startswith(
                "🏢 Đoàn phường Vĩnh Bảo\nĐoàn cơ sở, mã RG-VB\nTrực thuộc: Thành đoàn Rạch Giá (RG)"
            )
            assert "Bí thư: Lê Văn Cường" in page and "Phó Bí thư: Võ Thị Lan" in page
            assert (
                "Kế hoạch năm 2027: phiên bản 1, lần gửi đầu đúng hạn; đã gửi, đang chờ Đoàn cấp trên đánh giá." in page
            )
            labels = [b["label"] for b in buttons(staff)]
            assert labels == [
                "📄 Kế hoạch",
                "📝 Báo cáo sinh hoạt (0)",
                "🤝 Đối thoại (0)",
                "📌 Cam kết (0)",
                "🌳 Đơn vị trực thuộc (2)",
            ]

            with unit_of_work(db) as uow:  # a review by helper B's command, as its audit row
                registration = uow.registrations.find(unit_id(db, "RG-VB"), PROGRAMME, 2027)
                uow.conn.execute(
                    ReviewAction.__table__.insert().values(
                        unit_id=registration.unit_id,
                        registration_id=registration.id,
                        account_id=people["staff"],
                        action="return",
                        detail={"tasks": [1]},
                        note="Ghi rõ số lượng đoàn viên",
                        at=datetime(2026, 10, 12, 3, 0, tzinfo=UTC),
                    )
                )
            await staff.press("Kế hoạch")
            document, tasks = staff.last
            assert document["text"].startswith("Kế hoạch “3 chủ động” năm 2027 của Đoàn phường Vĩnh Bảo, phiên bản 1")
            assert document["file"]["filename"] == notice["file"]["filename"]
            for area in TASKS.values():
                for item, what, _when in area:
                    assert f"({item}) {what}" in tasks["text"]
            assert "Các phiên bản:\n• Phiên bản 1: ngày 10/10/2026, Lê Văn Cường gửi, đúng hạn" in tasks["text"]
            assert (
                "Lịch sử kiểm tra, đánh giá:\n• 10:00 12/10/2026, Trần Thị Bình: đã trả lại để sửa — Ghi rõ số lượng đoàn viên"
                in tasks["text"]
            )
            await staff.press("Vĩnh Bảo (RG-VB)")  # back to the page
            await staff.press("Đơn vị trực thuộc")
            assert "Các đơn vị thuộc Đoàn phường Vĩnh Bảo (RG-VB): tổng cộng 3" in staff.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(unit_id(db, "RG-VB"), PROGRAMME, 2027)
        document_id = uow.registrations.version(registration.id, 1).document_id
        notices = list(uow.conn.execute(select(OUT).where(OUT.c.kind == "notice").order_by(OUT.c.id)))
        prompt = uow.conn.execute(
            select(Prompt.__table__).where(Prompt.__table__.c.account_id == people["staff"])
        ).all()
    [web, held] = notices
    payload = f"un:open:{registration.unit_id}"
    assert web.account_id == people["staff"] and web.status == "sent"
    assert web.body["document"]["id"] == document_id and web.body["buttons"] == [
        [{"label": "🔎 Xem", "payload": payload}]
    ]
    # The Zalo one, outside Zalo's window, is held with its document and buttons, in English.
    assert (held.account_id, held.channel, held.status, held.error) == (zalo, "zalo", "held", "outside_window")
    assert held.body["text"] == "Đoàn phường Vĩnh Bảo submitted its “3 chủ động” plan for 2027 (version 1), on time."
    assert held.body["document"]["id"] == document_id
    assert held.body["buttons"] == [[{"label": "🔎 View", "payload": payload}]]
    assert prompt  # the staff's web chat remembers the notice's question (typed "1" pressed it)


# ---- reports: a branch's meetings seen by the base unit's secretary ------------------------------


async def test_a_base_unit_secretary_sees_a_branch_meeting_with_its_photos(settings, db, people):
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "branch", language="en") as branch, WebUser(app, "deputy") as deputy:
            await report_until_photos(branch)
            for name in ("bien-ban.png", "diem-danh.png"):
                await branch.send_frame(
                    {"type": "file", "name": name, "mime": "image/png", "data": base64.b64encode(PNG).decode()}
                )
            await branch.press("Done")
            await branch.press("Send the report")
            assert "20 of 25 members present, 2 file(s) attached" in branch.text

            await deputy.say("/xem Vĩnh Bảo")  # by name: one match opens it
            assert "📝 Báo cáo sinh hoạt (1)" in [b["label"] for b in buttons(deputy)]  # the branch's, counted
            await deputy.say("/xem rg-vb-kp1")
            assert deputy.text.startswith("🏢 Chi đoàn Khu phố 1\nChi đoàn, mã RG-VB-KP1")
            assert "Bí thư: Phạm Minh Dũng" in deputy.text
            await deputy.press("Báo cáo sinh hoạt")
            assert (
                "Báo cáo sinh hoạt năm 2026 của Chi đoàn Khu phố 1 và các chi đoàn trực thuộc: 1, trang 1/1"
                in deputy.text
            )
            await deputy.press("19/11/2026")
            summary, *files = deputy.last
            assert summary["text"].startswith("Chi đoàn Khu phố 1 (RG-VB-KP1)\nSinh hoạt ngày 19/11/2026, phiên bản 1:")
            assert "Học tập Nghị quyết Đại hội Đoàn" in summary["text"]
            assert [f["file"]["filename"] for f in files] == ["bien-ban.png", "diem-danh.png"]
            assert files[0]["text"] == "Tệp 1/2 của báo cáo ngày 19/11/2026"

            assert deputy.button("Chi đoàn Khu phố 1") == f"un:open:{unit_id(db, 'RG-VB-KP1')}"  # back to the unit

            # The branch's secretary sees the branch, not the base unit nor the other branch.
            for typed in ("RG-VB", "RG-VB-KP2", "khu pho 2"):
                await branch.say(f"/view {typed}")
                assert branch.text == f"There is no unit with the code or name “{typed}” among the units you can see."
            for forged in (f"un:open:{unit_id(db, 'RG-VB')}", f"un:plan:{unit_id(db, 'RG-VB')}"):
                await branch.send_frame({"type": "button", "payload": forged})
                assert branch.text == "That button is no longer valid."
            await branch.say("/xem RG-VB-KP1")
            assert [b["label"] for b in buttons(branch)] == ["📝 Meeting reports (1)"]  # no plan: a branch has none
        async with WebUser(app, "sec", language="en") as sec:  # the base unit's secretary too
            await sec.say("/view Khu pho 1")
            await sec.press("Meeting reports (1)")
            await sec.press("19/11/2026")
            assert sec.last[0]["text"].startswith("Chi đoàn Khu phố 1 (RG-VB-KP1)\nMeeting of 19/11/2026, version 1:")
            assert [m["file"]["filename"] for m in sec.last[1:]] == ["bien-ban.png", "diem-danh.png"]
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        [report] = uow.reports.of_unit(unit_id(db, "RG-VB-KP1"), ReportKind.meeting)
        assert [p["name"] for p in uow.reports.latest_data(report.id)["photos"]] == ["bien-ban.png", "diem-danh.png"]


# ---- dialogues and commitments ----------------------------------------------------------------


async def test_a_dialogue_notice_opens_the_report_and_commitments_show_their_follow_up(settings, db, people):
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec, WebUser(app, "staff") as staff:
            await sec.say("/doithoai")
            await sec.say("hôm nay")
            await sec.press("Commune")
            await sec.say("Nguyễn Văn Hùng")
            await sec.press("Chủ tịch UBND phường")
            await sec.press("No, continue")
            await sec.say("60")
            for question, promise in (
                ("Sân chơi cho thiếu nhi", "Bố trí đất làm sân chơi"),
                ("Việc làm", "Mở lớp nghề"),
            ):
                await sec.say(question)
                await sec.press("Skip")
                await sec.press("Yes")
                await sec.say(promise)
                await sec.say("Chủ tịch UBND phường")
                await sec.say("10/12/2026")
                await sec.press("Yes, add another" if question.startswith("Sân") else "No, continue")
            await sec.press("Send the report")
            assert "2 commitment(s) to follow up" in sec.text

            [notice] = await staff.replies()
            assert notice["text"] == (
                "Đoàn phường Vĩnh Bảo đã báo cáo buổi đối thoại ngày 20/11/2026 (phiên bản 1): "
                "2 ý kiến, kiến nghị, 2 nội dung cam kết cần theo dõi."
            )
            await staff.press("Xem")
            assert staff.text.startswith("Đoàn phường Vĩnh Bảo (RG-VB)\nĐối thoại ngày 20/11/2026, phiên bản 1:")
            assert "Bố trí đất làm sân chơi" in staff.text

            with unit_of_work(db) as uow:  # the secretary's follow-up of the first one
                report = uow.reports.of_unit(unit_id(db, "RG-VB"), ReportKind.dialogue)[0]
                first = uow.reports.commitments(report.id)[0]
                uow.reports.follow_up(
                    first.id, status=CommitmentStatus.done, note="Đã bàn giao đất", now=datetime.now(UTC)
                )
            await staff.say("/xem RG-VB")
            await staff.press("Cam kết (2)")
            text = staff.text
            assert text.startswith("Nội dung cam kết của Đoàn phường Vĩnh Bảo: 2, trang 1/1.")
            assert (
                "• Bố trí đất làm sân chơi\n   Người cam kết: Chủ tịch UBND phường; thời hạn: 10/12/2026; "
                "đối thoại ngày 20/11/2026\n   Kết quả thực hiện: Đã thực hiện\n   Ghi chú: Đã bàn giao đất"
            ) in text
            assert "• Mở lớp nghề\n" in text and "Kết quả thực hiện: chưa có" in text
            await staff.say("/xem RG-VB")
            await staff.press("Đối thoại (1)")
            await staff.press("20/11/2026")
            assert "Đối thoại ngày 20/11/2026" in staff.text
    finally:
        await app.stop()


# ---- access -----------------------------------------------------------------------------------


async def test_access_other_district_stranger_forged_buttons_and_hostile_text(settings, db, people):
    with unit_of_work(db) as uow:
        uow.reports.add(
            unit_id=unit_id(db, "RG-VB"),
            kind=ReportKind.dialogue,
            held_on=date(2026, 11, 1),
            data={},
            account_id=people["sec"],
            now=datetime.now(UTC),
        )
        [report] = uow.reports.of_unit(unit_id(db, "RG-VB"), ReportKind.dialogue)
    vb = unit_id(db, "RG-VB")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "ct") as ct, WebUser(app, "stranger") as stranger:
            await ct.say("/xem NO-SUCH")
            nothing = ct.text
            assert nothing == NOT_FOUND.format("NO-SUCH")
            await ct.say("/xem RG-VB")  # exists, outside Châu Thành: the same answer as no such unit
            assert ct.text == NOT_FOUND.format("RG-VB")
            await ct.say("/xem vinh bao")
            assert ct.text == NOT_FOUND.format("vinh bao")
            for forged in (
                f"un:open:{vb}",
                f"un:plan:{vb}",
                f"un:rep:{vb}:d:1",
                f"un:cm:{vb}:1",
                f"un:ls:{vb}:1",
                f"un:r:{report.id}",
                "un:open:99999999999999999999999",
                "un:open:-1",
                f"un:rep:{unit_id(db, 'CT-ML')}:x:1",
                f"un:open:{unit_id(db, 'CT-ML')}:7",
                "un:nothing",
            ):
                await ct.send_frame({"type": "button", "payload": forged})
                assert ct.text == INVALID, forged
            await ct.say("/xem CT-ML")  # its own
            assert ct.text.startswith("🏢 Đoàn xã Minh Lương")

            for typed in ("/donvi", "/xem RG-VB", "/donvi vinh bao"):
                await stranger.say(typed)
                assert stranger.text.startswith("Đồng chí chưa đăng ký. Vui lòng gửi mã mời")
            await stranger.send_frame({"type": "button", "payload": f"un:open:{vb}"})
            assert stranger.text == INVALID

            for hostile in ("' OR 1=1 --", "%", "_", "%%%", "vinh%", "😀🎉", "Robert'); DROP TABLE org_unit;--"):
                for command in ("/donvi", "/xem"):
                    await ct.say(f"{command} {hostile}")
                    no_apology(ct)
                    assert "Vĩnh Bảo" not in ct.text and "Minh Lương" not in ct.text, (command, hostile)
            await ct.say("/donvi " + "a " * 3000)
            no_apology(ct)
        async with WebUser(app, "staff") as staff:  # who may see RG-VB: digits that are no page or id
            huge = "9" * 23
            for forged in (
                f"un:ls:{vb}:²",
                f"un:ls:{vb}:0",
                f"un:ls:{vb}:{huge}",
                f"un:rep:{vb}:m:³",
                f"un:cm:{vb}:-1",
                f"un:r:{huge}",
                "un:r:²",
                f"un:open:{vb}:",
                "inv:²:secretary",
                f"inv:{huge}:secretary",
                f"inv:{vb}:²",
            ):
                await staff.send_frame({"type": "button", "payload": forged})
                assert staff.text == INVALID, forged
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        assert uow.conn.execute(select(func.count()).select_from(OrgUnit.__table__)).scalar() == 11  # intact


async def test_donvi_orders_a_name_with_a_superscript_digit(settings, db, people):
    """ "²" is a digit to str.isdigit but no number to int(): the listing sorts it as text."""
    with unit_of_work(db) as uow:
        vb = uow.units.by_code("RG-VB")
        now = datetime.now(UTC)
        uow.units.add(code="RG-VB-KT", name="Chi đoàn Khu tập thể 1²", kind="branch", parent=vb, reviews=False, now=now)
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "sec") as sec:
            await sec.say("/donvi")
            no_apology(sec)
            assert "Chi đoàn Khu tập thể 1² — RG-VB-KT" in sec.text
    finally:
        await app.stop()


async def test_the_plan_page_skips_a_stored_area_key_with_a_superscript_digit(settings, db, people):
    """A plan's stored data keyed "area²" (no area number to int()) does not break its page."""
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "sec", language="en") as sec, WebUser(app, "staff") as staff:
            await register(sec)
            await staff.replies()  # the plan's notice
            with unit_of_work(db) as uow:
                registration = uow.registrations.find(unit_id(db, "RG-VB"), PROGRAMME, 2027)
                [version] = uow.registrations.versions(registration.id)
                table = RegistrationVersion.__table__
                uow.conn.execute(
                    table.update().where(table.c.id == version.id).values(data={**version.data, "area²": []})
                )
            await staff.send_frame({"type": "button", "payload": f"un:plan:{unit_id(db, 'RG-VB')}"})
            no_apology(staff)
            assert "Các phần việc đã đăng ký:\n1. " in staff.text
    finally:
        await app.stop()


# ---- /moi by name -----------------------------------------------------------------------------


async def test_moi_finds_the_unit_by_name_and_offers_a_choice(settings, db, people):
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "ct") as ct:
            await staff.say("/moi Phi Thông")
            assert staff.text.startswith("Mã mời cho Bí thư Đoàn xã Phi Thông: ")
            await staff.say("/moi phi thong phobithu")
            assert staff.text.startswith("Mã mời cho Phó Bí thư Đoàn xã Phi Thông: ")
            await staff.say("/moi RG-VB bithu")  # by code, as before
            assert "Đoàn phường Vĩnh Bảo" in staff.text
            await staff.say("/moi vinh thanh pho bi thu")
            assert "Có nhiều đơn vị trong phạm vi đồng chí phụ trách khớp với “vinh thanh”" in staff.text
            assert [b["label"] for b in buttons(staff)] == [
                "Đoàn phường Vĩnh Thanh (RG-VT)",
                "Đoàn phường Vĩnh Thanh Vân (RG-VTV)",
            ]
            choice = staff.button("Vĩnh Thanh Vân")
            await staff.press("Vĩnh Thanh Vân")
            assert "Đoàn phường Vĩnh Thanh Vân" in staff.text
            await ct.send_frame({"type": "button", "payload": choice})  # another district's staff
            assert ct.text == INVALID
            for forged in (f"inv:{unit_id(db, 'RG-VT')}:admin", f"inv:{unit_id(db, 'CT-ML')}:secretary", "inv:x:y"):
                await staff.send_frame({"type": "button", "payload": forged})
                assert staff.text == INVALID
            await ct.say("/moi vinh bao")
            assert ct.text == "Không có đơn vị nào tên “vinh bao” trong phạm vi đồng chí phụ trách."
            await ct.say("/moi RG-VB")
            assert ct.text == "Không có đơn vị nào mang mã RG-VB trong phạm vi đồng chí phụ trách."
            await staff.say("/moi RG-VB phó")  # a code and a word that is no role
            assert "/moi" in staff.text and "bithu" in staff.text
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        invites = uow.conn.execute(select(Invite.__table__).order_by(Invite.__table__.c.id)).all()
        issued = [(uow.units.get(i.unit_id).code, i.role) for i in invites]
    assert issued == [
        ("RG-PT", "secretary"),
        ("RG-PT", "deputy"),
        ("RG-VB", "secretary"),
        ("RG-VTV", "deputy"),
    ]


# ---- mergers ------------------------------------------------------------------------------------


async def test_a_merged_unit_points_to_the_survivor_which_lists_it(settings, db, people):
    with unit_of_work(db) as uow:
        uow.units.update(unit_id(db, "RG-VT"), merged_into=unit_id(db, "RG-VB"), closed_on=date(2025, 7, 1))
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/xem RG-VT")
            assert "Đã hợp nhất vào Đoàn phường Vĩnh Bảo (RG-VB) từ ngày 01/07/2025." in staff.text
            assert "chưa có người tham gia" not in staff.text
            await staff.press("Vĩnh Bảo")
            assert "Đơn vị đã hợp nhất: Đoàn phường Vĩnh Thanh (RG-VT, 01/07/2025)." in staff.text
            await staff.say("/donvi")
            assert "Đoàn phường Vĩnh Thanh — RG-VT (đã hợp nhất)" in staff.text
    finally:
        await app.stop()


async def test_no_invite_to_a_merged_unit_by_code_name_or_button_and_its_code_is_not_redeemed(settings, db, people):
    """/moi refuses a unit merged away (`chidoan org merge`), naming the unit it joined, and leaves
    it out of a search by name; a code to it (issued before the merger was refused) cannot be
    redeemed, nor one whose unit closes while its holder is answering the questions."""
    vt, pt = unit_id(db, "RG-VT"), unit_id(db, "RG-PT")
    for code in ("RG-VT", "RG-PT"):
        merge_units(db, code, "RG-VB", settings=settings, now=datetime(2026, 11, 19, 3, 0, tzinfo=UTC))
    stale = new_invite(db, "RG-VT")  # as /moi issued it before this was refused
    racing = new_invite(db, "RG-VTV")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "newbie", "Người Mới") as newbie:
            await staff.say("/moi RG-VT")
            assert staff.text == (
                "Đoàn phường Vĩnh Thanh đã hợp nhất vào Đoàn phường Vĩnh Bảo (RG-VB); hãy mời vào Đoàn phường Vĩnh Bảo."
            )
            await staff.say("/moi phi thong")  # only a merged unit has this name
            assert staff.text == (
                "Đoàn xã Phi Thông đã hợp nhất vào Đoàn phường Vĩnh Bảo (RG-VB); hãy mời vào Đoàn phường Vĩnh Bảo."
            )
            await staff.say("/moi vinh thanh")  # RG-VT left out: RG-VTV alone, no choice
            assert staff.text.startswith("Mã mời cho Bí thư Đoàn phường Vĩnh Thanh Vân: ")
            await staff.send_frame({"type": "button", "payload": f"inv:{vt}:secretary"})  # offered before the merger
            assert "Đoàn phường Vĩnh Thanh đã hợp nhất vào Đoàn phường Vĩnh Bảo (RG-VB)" in staff.text
            await staff.send_frame({"type": "button", "payload": f"inv:{pt}:deputy"})
            assert "Đoàn xã Phi Thông đã hợp nhất vào" in staff.text

            await newbie.say(stale)
            assert newbie.text == (
                "Mã này dùng cho Đoàn phường Vĩnh Thanh, nay đã hợp nhất vào Đoàn phường Vĩnh Bảo, nên không còn "
                "dùng được. Đồng chí hãy liên hệ Thành đoàn Rạch Giá để xin mã mời vào Đoàn phường Vĩnh Bảo."
            )

            await newbie.say(racing)
            assert "Đoàn phường Vĩnh Thanh Vân" in newbie.text
            await newbie.say("Nguyễn Văn Mới")
            await newbie.say("Bí thư")
            merge_units(db, "RG-VTV", "RG-VB", settings=settings, now=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
            with unit_of_work(db) as uow:  # a code the merger did not void (one issued meanwhile)
                uow.conn.execute(
                    Invite.__table__.update()
                    .where(Invite.__table__.c.code == racing)
                    .values(expires_at=datetime(2026, 12, 30, tzinfo=UTC))
                )
            await newbie.press("Xác nhận")
            assert newbie.text == (
                "Mã này dùng cho Đoàn phường Vĩnh Thanh Vân, nay đã hợp nhất vào Đoàn phường Vĩnh Bảo, nên không còn "
                "dùng được. Đồng chí hãy liên hệ Thành đoàn Rạch Giá để xin mã mời vào Đoàn phường Vĩnh Bảo."
            )
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        invites = uow.conn.execute(select(Invite.__table__).order_by(Invite.__table__.c.id)).all()
        issued = [(uow.units.get(i.unit_id).code, i.used_at) for i in invites]
        newbie_roles = uow.conn.execute(
            select(RoleAssignment.__table__)
            .join(
                ChannelIdentity.__table__,
                ChannelIdentity.__table__.c.account_id == RoleAssignment.__table__.c.account_id,
            )
            .where(ChannelIdentity.__table__.c.external_id == "newbie")
        ).all()
        closed = [uow.units.get(i).closed_on is not None for i in (vt, pt)]
    assert issued == [("RG-VT", None), ("RG-VTV", None), ("RG-VTV", None)]  # the stale, the racing, /moi vinh thanh
    assert newbie_roles == [] and closed == [True, True]


# ---- Telegram -----------------------------------------------------------------------------------


async def test_on_telegram_the_notice_is_a_document_whose_button_opens_the_page(settings, db, people, tg):
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "9002", "Trần Thị Bình", "RG", "district_staff", channel="telegram")
    app = await started_unpaced(App(tg_settings(settings, tg), clock=clock_at(2026, 10, 10, 9, 0)))
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await register(sec)
        documents = await tg.wait_for(
            lambda calls: [c for c in calls if c.method == "sendDocument" and c.params.get("chat_id") == 9002]
        )
        [call] = documents
        assert call.params["caption"].startswith("Đoàn phường Vĩnh Bảo đã gửi kế hoạch “3 chủ động” năm 2027")
        [[button]] = call.params["reply_markup"]["inline_keyboard"]
        assert button == {"text": "🔎 Xem", "callback_data": f"un:open:{unit_id(db, 'RG-VB')}"}
        staff = TgUser(tg, db, 9002, language="vi")
        update = tg.callback_update(
            9002, button["callback_data"], message_id=staff._message_id_with(button["callback_data"])
        )
        await staff.send(update)
        assert staff.text.startswith("🏢 Đoàn phường Vĩnh Bảo")
        await staff.say("/donvi vinh bao")
        assert "Các đơn vị tìm được với “vinh bao”:" in staff.text
        await staff.press("Vĩnh Bảo")
        await staff.press("Kế hoạch")
        plans = [c for c in tg.calls_of("sendDocument") if c.params.get("chat_id") == 9002]
        assert len(plans) == 2 and "phiên bản 1" in plans[-1].params["caption"]
        assert "Các phần việc đã đăng ký:" in staff.text
    finally:
        await app.stop()


async def test_reports_of_the_year_newest_first_ten_a_page(settings, db, people):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        kp1, kp2 = uow.units.by_code("RG-VB-KP1"), uow.units.by_code("RG-VB-KP2")
        for month in range(1, 12):  # 11 meetings of 2026, one of 2025 (another year: not listed)
            uow.reports.add(
                unit_id=(kp1 if month % 2 else kp2).id,
                kind=ReportKind.meeting,
                held_on=date(2026, month, 5),
                data={"held_on": f"2026-{month:02d}-05"},
                account_id=people["branch"],
                now=now,
            )
        uow.reports.add(
            unit_id=kp1.id,
            kind=ReportKind.meeting,
            held_on=date(2025, 12, 5),
            data={},
            account_id=people["branch"],
            now=now,
        )
        uow.reports.withdraw(uow.reports.of_unit(kp2.id, ReportKind.meeting)[-1].id, now)  # 05/10
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/xem RG-VB")
            await staff.press("Báo cáo sinh hoạt (11)")
            assert (
                "Báo cáo sinh hoạt năm 2026 của Đoàn phường Vĩnh Bảo và các chi đoàn trực thuộc: 11, trang 1/2"
                in staff.text
            )
            labels = [b["label"] for b in buttons(staff)]
            assert labels[:3] == [
                "05/11/2026 · v1 · Chi đoàn Khu phố 1",
                "05/10/2026 · v1 · Chi đoàn Khu phố 2 · đã rút",
                "05/09/2026 · v1 · Chi đoàn Khu phố 1",
            ]
            assert len(labels) == 11 and labels[-1] == "Trang sau »"
            await staff.press("Trang sau")
            assert [b["label"] for b in buttons(staff)] == ["05/01/2026 · v1 · Chi đoàn Khu phố 1", "« Trang trước"]
    finally:
        await app.stop()


# ---- Zalo OA: within its window, and held outside it --------------------------------------------


@pytest.mark.parametrize("inside", [True, False])
async def test_on_zalo_the_notice_sends_the_document_and_its_tapped_button_opens_the_page(settings, db, people, inside):
    from tests.fake_zalo_oa import FakeZaloOA
    from tests.test_zalo_oa import ZaloUser, zalo_settings

    account = add_member(db, "84909", "Ngô Văn Tâm", "RG", "district_staff", channel="zalo")
    with unit_of_work(db) as uow:  # wrote yesterday (inside Zalo's window) or in January (outside)
        seen = datetime(2026, 10, 9, 2, 0, tzinfo=UTC) if inside else datetime(2026, 1, 1, tzinfo=UTC)
        uow.conn.execute(
            ChannelIdentity.__table__.update()
            .where(ChannelIdentity.__table__.c.account_id == account)
            .values(last_seen_at=seen)
        )
    async with FakeZaloOA() as zalo:
        app = App(zalo_settings(settings.database_url, zalo), clock=clock_at(2026, 10, 10, 9, 0))
        await app.start()
        try:
            staff = ZaloUser(zalo, app, db, "84909")
            async with WebUser(app, "sec", language="en") as sec:
                await register(sec)
            if inside:
                notice, document = await staff.replies()
            else:
                assert await staff.replies() == []  # held until they write
                [held] = [r for r in list_outbox(db, "84909") if r.status == "held"]
                assert held.error == "outside_window" and "document" in held.body
                notice, document, toi = await staff.say("/toi")  # released first, in order, then the reply
                assert "Ngô Văn Tâm" in toi["text"]
            assert notice["text"].startswith("Đoàn phường Vĩnh Bảo đã gửi kế hoạch “3 chủ động” năm 2027")
            [button] = notice["attachment"]["payload"]["buttons"]
            assert (button["title"], button["payload"]) == ("🔎 Xem", "1")
            token = document["attachment"]["payload"]["token"]
            assert zalo.uploaded(token)[0].endswith(".docx")
            await staff.tap("Xem")  # Zalo sends the payload as text: "1"
            assert staff.text.startswith("🏢 Đoàn phường Vĩnh Bảo")
        finally:
            await app.stop()


def list_outbox(db, chat_id: str) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(OUT).where(OUT.c.chat_id == chat_id).order_by(OUT.c.id)))
