"""Roles and unit kinds in the words, end to end through the web chat: a branch's secretary is
not sent to /dangky or /doithoai (the plan and the dialogue are the base unit's), a ward's
dialogue offers the ward's leaders, a base unit is asked about its own members, not "the
branch's", staff are named after their own union, and /moi issues only a role the unit has."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from chidoan.bot.app import App
from chidoan.storage.models import Invite, ReportKind, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_registration import clock_at


async def started(settings, *local: int) -> App:
    app = App(settings, clock=clock_at(*local))
    await app.start()
    return app


def invites(db) -> int:
    with unit_of_work(db) as uow:
        return uow.conn.execute(select(func.count()).select_from(Invite)).scalar_one()


async def test_each_role_is_shown_the_commands_of_its_unit(settings, db, org):
    """/trogiup lists /dangky and /doithoai to a base unit's secretary only; a branch's secretary
    is not sent to /dangky by /trangthai, /kehoach or /baocao either (and typing it explains whose
    it is); staff see the reviewing commands."""
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, 2026, 10, 10, 9, 0)  # in the registration season for 2027
    try:
        async with (
            WebUser(app, "branch") as branch,
            WebUser(app, "sec") as sec,
            WebUser(app, "staff") as staff,
        ):
            await branch.say("/trogiup")
            for command in ("/sinhhoat", "/baocao", "/kehoach", "/trangthai", "/toi"):
                assert command in branch.text
            for command in ("/dangky", "/doithoai", "/duyet", "/moi"):
                assert command not in branch.text
            await sec.say("/trogiup")
            for command in ("/dangky", "/doithoai", "/sinhhoat", "/baocao", "/kehoach"):
                assert command in sec.text
            assert "/duyet" not in sec.text
            await staff.say("/trogiup")
            for command in ("/duyet", "/chuanop", "/nhacnho", "/moi", "/trangthai"):
                assert command in staff.text
            assert "/dangky" not in staff.text and "/sinhhoat" not in staff.text

            await branch.say("/trangthai")
            assert "Đoàn phường Vĩnh Bảo" in branch.text and "chưa gửi" in branch.text
            assert "/dangky" not in branch.text
            await sec.say("/trangthai")
            assert "/dangky" in sec.text
            await branch.say("/kehoach")
            assert branch.text == "Đoàn phường Vĩnh Bảo chưa gửi kế hoạch."
            await branch.say("/baocao")
            assert "/sinhhoat" in branch.text and "/doithoai" not in branch.text
            await sec.say("/baocao")
            assert "/doithoai" in sec.text
            await branch.say("/dangky")  # typed anyway: whose work it is
            assert "Bí thư Đoàn phường Vĩnh Bảo" in branch.text
    finally:
        await app.stop()


async def test_a_ward_is_offered_the_ward_s_leaders_at_each_level(settings, db, org):
    """The dialogue's levels are the commune level (commune, ward, special zone), the district
    (before 1/7/2025) and the province; a ward's union is offered the ward's leaders (stored as
    pressed), a special zone's union its own."""
    with unit_of_work(db) as uow:
        uow.units.add(
            code="KG-PQ",
            name="Đoàn đặc khu Phú Quốc",
            kind="base_unit",
            parent=uow.units.by_code("KG"),
            reviews=False,
            now=datetime.now(UTC),
        )
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    add_member(db, "pq", "Ngô Thị Hoa", "KG-PQ", "secretary")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "sec") as sec, WebUser(app, "pq") as pq:
            await sec.say("/doithoai")
            await sec.say("hôm qua")
            labels = [b["label"] for row in sec.last[-1]["buttons"] for b in row]
            assert labels[:3] == [
                "1. Cấp xã (xã, phường, đặc khu)",
                "2. Cấp huyện (trước 01/7/2025)",
                "3. Cấp tỉnh",
            ]
            await sec.press("Cấp xã")
            await sec.say("Nguyễn Văn Hùng")
            labels = [b["label"] for row in sec.last[-1]["buttons"] for b in row]
            assert labels[:4] == [
                "Bí thư Đảng ủy phường",
                "Phó Bí thư Đảng ủy phường",
                "Chủ tịch UBND phường",
                "Phó Chủ tịch UBND phường",
            ]
            assert "xã" not in " ".join(labels)
            await sec.press("Chủ tịch UBND phường")
            await sec.press("Có")  # another leader
            await sec.say("Trần Văn Nam")
            await sec.press("Bí thư Đảng ủy phường")
            await sec.press("Không")
            await sec.say("45")
            await sec.say("Đề nghị xây dựng sân bóng cho thanh niên")
            await sec.press("Bỏ qua")
            await sec.press("Không")
            await sec.press("Không")
            await sec.press("Gửi báo cáo")
            assert "Cảm ơn" in sec.text

            await pq.say("/doithoai")
            await pq.say("hôm qua")
            await pq.press("Cấp xã")
            await pq.say("Lê Văn Tám")
            assert pq.button("Bí thư Đảng ủy đặc khu") and pq.button("Chủ tịch UBND đặc khu")
        with unit_of_work(db) as uow:
            [report] = uow.reports.of_unit(uow.units.by_code("RG-VB").id, ReportKind.dialogue)
            data = uow.reports.latest_data(report.id)
        assert data["level"] == "commune"
        assert [leader["title"] for leader in data["leaders"]] == ["Chủ tịch UBND phường", "Bí thư Đảng ủy phường"]
    finally:
        await app.stop()


async def test_the_district_and_province_levels_name_the_city_s_and_province_s_leaders(settings, db, org):
    """Above the ward: Thành đoàn Rạch Giá (a district-level union in the tree) is a city's, so
    its leaders are the Thành ủy's and the city's People's Committee's; Tỉnh đoàn Kiên Giang's
    are the Tỉnh ủy's and the province's."""
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "sec") as sec:
            for level, party, government in (
                ("Cấp huyện", "Bí thư Thành ủy", "Chủ tịch UBND thành phố"),
                ("Cấp tỉnh", "Bí thư Tỉnh ủy", "Chủ tịch UBND tỉnh"),
            ):
                await sec.say("/doithoai")
                await sec.say("hôm qua")
                await sec.press(level)
                await sec.say("Nguyễn Văn Hùng")
                assert sec.button(party) and sec.button(government)
                await sec.say("/huy")
    finally:
        await app.stop()


async def test_a_base_unit_is_asked_about_its_own_members(settings, db, org):
    """A ward's union reporting a meeting is asked how many members the ward's union has, not
    "Chi đoàn có bao nhiêu đoàn viên?"; a branch is asked by its name."""
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "sec") as sec, WebUser(app, "branch") as branch:
            for user, unit in ((sec, "Đoàn phường Vĩnh Bảo"), (branch, "Chi đoàn Khu phố 1")):
                await user.say("/sinhhoat")
                await user.say("hôm qua")
                await user.press("Định kỳ")
                await user.say("Học tập Nghị quyết Đại hội Đoàn")
                assert user.text == f"{unit} có bao nhiêu đoàn viên?"
                await user.say("25")
                await user.say("30")
                assert f"nhiều hơn 25 đoàn viên của {unit}" in user.text
    finally:
        await app.stop()


async def test_staff_are_named_after_their_own_union(settings, db, org):
    """Staff of a city union are "Cán bộ Thành đoàn …", of a province union "Cán bộ Tỉnh đoàn …":
    in /toi, in the invite and on joining; no district level in the role."""
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff")
    code = new_invite(db, "KG", role=Role.district_staff)
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "new") as new:
            await staff.say("/toi")
            assert "Cán bộ Thành đoàn Rạch Giá" in staff.text and "cấp huyện" not in staff.text.lower()
            await staff.say("/moi RG canbo")
            assert staff.text.startswith("Mã mời cho Cán bộ Thành đoàn Rạch Giá: ")
            await new.say(f"/start {code}")
            assert "Cán bộ Tỉnh đoàn Kiên Giang" in new.text
            await new.say("Võ Văn Kiệt")
            await new.press("Chuyên trách")
            await new.press("Xác nhận")
            assert "Cán bộ Tỉnh đoàn Kiên Giang" in new.text
    finally:
        await app.stop()


async def test_moi_issues_only_a_role_the_unit_has(settings, db, org):
    """`/moi RG-VTV canbo` (staff for a ward's union, which reviews no one) and `/moi RG bithu` are
    refused with the roles valid there, and no code is stored (the usage's example is no such
    refusal); `/moi Phi Thông` finds the unit by
    its name, accents optional, and a name matching several units offers a choice."""
    with unit_of_work(db) as uow:
        now, rg = datetime.now(UTC), uow.units.by_code("RG")
        uow.units.add(code="RG-PT", name="Đoàn xã Phi Thông", kind="base_unit", parent=rg, reviews=False, now=now)
        uow.units.add(code="RG-VT", name="Đoàn phường Vĩnh Thanh", kind="base_unit", parent=rg, reviews=False, now=now)
        uow.units.add(
            code="RG-VTV", name="Đoàn phường Vĩnh Thanh Vân", kind="base_unit", parent=rg, reviews=False, now=now
        )
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, 2026, 11, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            before = invites(db)
            await staff.say("/moi RG-VTV canbo")
            assert staff.text == (
                "Không thể cấp mã mời Cán bộ cho Đoàn phường Vĩnh Thanh Vân. Các vai trò của đơn vị này:"
                " “bithu” (Bí thư), “phobithu” (Phó Bí thư). Ví dụ: /moi RG-VTV bithu"
            )
            await staff.say("/moi RG-VB-KP1 canbo")
            assert "Không thể cấp mã mời Cán bộ cho Chi đoàn Khu phố 1" in staff.text
            await staff.say("/moi")  # the usage's example is a code that takes a secretary
            assert staff.text.endswith("/moi RG-VB bithu")
            await staff.say("/moi RG bithu")
            assert "“canbo” (Cán bộ)" in staff.text and "Ví dụ: /moi RG canbo" in staff.text
            await staff.say("/moi vinh thanh canbo")  # a choice, then the refusal
            await staff.press("Vĩnh Thanh Vân")
            assert "Không thể cấp mã mời Cán bộ cho Đoàn phường Vĩnh Thanh Vân" in staff.text
            assert invites(db) == before
            await staff.say("/moi Phi Thông")
            assert staff.text.startswith("Mã mời cho Bí thư Đoàn xã Phi Thông: ")
            await staff.say("/moi phi thong phobithu")
            assert staff.text.startswith("Mã mời cho Phó Bí thư Đoàn xã Phi Thông: ")
            assert invites(db) == before + 2
    finally:
        await app.stop()
