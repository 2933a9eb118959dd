"""Dialogue reports (/doithoai) end to end through the web chat: leaders, questions, and the
commitments kept for their follow-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chidoan.bot.app import App
from chidoan.storage.models import CommitmentStatus, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def app(settings, org, db):
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    application = App(settings)
    await application.start()
    yield application
    await application.stop()


async def test_a_dialogue_with_two_commitments(app, db):
    due = (datetime.now(UTC).astimezone(TZ) + timedelta(days=30)).date()
    async with WebUser(app, "sec", language="en") as sec:
        await sec.say("/doithoai")
        await sec.say("hôm qua")
        await sec.press("Commune")
        await sec.say("Nguyễn Văn Hùng")
        await sec.say("")  # a leader with no title: asked again
        assert "The answer is empty" in sec.text
        await sec.press("Bí thư Đảng ủy phường")
        await sec.press("Yes, add another")
        await sec.say("Trần Thị Mai")
        await sec.say("Chủ tịch UBND phường")
        await sec.press("No, continue")
        await sec.say("mười lăm")
        await sec.say("45")
        await sec.say("Đề nghị xây dựng sân bóng cho thanh niên khu phố 3")
        await sec.say("Phường sẽ khảo sát mặt bằng")
        await sec.press("Yes")
        await sec.say("Khảo sát mặt bằng và báo cáo phương án sân bóng")
        await sec.say("Chủ tịch UBND phường")
        await sec.say(due.strftime("%d/%m/%Y"))
        await sec.press("Yes, add another")
        await sec.say("Hỗ trợ thanh niên khởi nghiệp vay vốn")
        await sec.press("Skip")
        await sec.press("Yes")
        await sec.say("Giới thiệu thanh niên với Ngân hàng Chính sách xã hội")
        await sec.say("Bí thư Đảng ủy")
        await sec.press("Skip")
        await sec.press("Yes, add another")
        await sec.say("Tăng cường chiếu sáng đường khu phố 5")
        await sec.press("Skip")
        await sec.press("No")
        await sec.press("No, continue")
        assert "Please check your answers" in sec.text and "Trần Thị Mai; Chủ tịch UBND phường" in sec.text
        await sec.press("Send the report")
        assert "2 leader(s), 3 question(s), 2 commitment(s) to follow up" in sec.text
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        [report] = uow.reports.of_unit(unit.id, ReportKind.dialogue)
        data = uow.reports.latest_data(report.id)
        assert data["level"] == "commune" and data["participants"] == 45
        assert [leader["title"] for leader in data["leaders"]] == ["Bí thư Đảng ủy phường", "Chủ tịch UBND phường"]
        first, second = uow.reports.commitments(report.id)
    assert (first.promise, first.promised_by, first.due_on, first.status) == (
        "Khảo sát mặt bằng và báo cáo phương án sân bóng",
        "Chủ tịch UBND phường",
        due,
        CommitmentStatus.open,
    )
    assert second.due_on is None and second.unit_id == first.unit_id
    assert isinstance(report.held_on, date)


async def test_only_a_base_unit_reports_dialogues(app, db):
    async with WebUser(app, "branch", language="en") as branch:
        await branch.say("/doithoai")
        assert "sent by the secretary or deputy secretary of a base unit" in branch.text
