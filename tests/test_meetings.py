"""Branch meeting reports (/sinhhoat) end to end: through the web chat with files, through the fake
Telegram Bot API with photos downloaded, the stored report and its files checked."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chidoan.bot.app import App
from chidoan.storage.models import ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, make_settings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def today() -> str:
    return datetime.now(UTC).astimezone(TZ).strftime("%d/%m/%Y")


@pytest.fixture
async def app(settings, org, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    application = App(settings)
    await application.start()
    yield application
    await application.stop()


def reports(db, unit_code: str) -> list[dict]:
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        return [
            uow.reports.latest_data(r.id) | {"_held_on": r.held_on}
            for r in uow.reports.of_unit(unit.id, ReportKind.meeting)
        ]


async def report_until_photos(user: WebUser, total: str = "25") -> None:
    await user.say("/sinhhoat")
    await user.say("hôm qua")
    await user.press("Regular")
    await user.say("Học tập Nghị quyết Đại hội Đoàn")
    await user.say(total)
    await user.say("20")
    await user.say("Quán triệt nghị quyết; phân công trực tiếp nhận ý kiến.")
    await user.say("Đoàn viên đề nghị tổ chức sân chơi thể thao cuối tuần")
    await user.press("Skip")
    assert "Photos of the minutes" in user.text


async def telegram_report_until_photos(user) -> None:
    """A Telegram user (tests.test_telegram.TgUser) typing a meeting report up to its photos."""
    await user.say("/sinhhoat")
    for answer in ("hôm nay", "1", "Sinh hoạt chi đoàn tháng 11", "12", "10", "Bầu Bí thư chi đoàn"):
        await user.say(answer)
    await user.press("Skip")
    await user.press("Skip")


async def test_a_branch_reports_a_meeting_with_photos_in_the_web_chat(app, db):
    async with WebUser(app, "branch", language="en") as user:
        await user.say("/sinhhoat")
        await user.say("01/01/2099")
        assert "cannot be after" in user.text
        await user.say("hôm qua")
        await user.press("Regular")
        await user.say("Học tập Nghị quyết Đại hội Đoàn")
        await user.say("25")
        await user.say("30")
        assert "30 present is more than the 25 members" in user.text
        await user.say("20")
        await user.say("Quán triệt nghị quyết; phân công trực tiếp nhận ý kiến.")
        await user.say("Đoàn viên đề nghị tổ chức sân chơi thể thao cuối tuần")
        await user.press("Skip")
        for name in ("bien-ban.png", "diem-danh.png"):
            await user.send_frame(
                {"type": "file", "name": name, "mime": "image/png", "data": base64.b64encode(PNG).decode()}
            )
        assert "Received 2 of at most 10" in user.text
        await user.send_frame(
            {
                "type": "file",
                "name": "x.exe",
                "mime": "application/x-msdownload",
                "data": base64.b64encode(b"MZ").decode(),
            }
        )
        assert "Please send a photo or a scan" in user.text
        await user.press("Done")
        assert "Photos: 2 file(s)" in user.text and "Present: 20" in user.text and "Members: 25" in user.text
        await user.press("Send the report")
        assert "20 of 25 members present, 2 file(s) attached" in user.text
    [report] = reports(db, "RG-VB-KP1")
    yesterday = (datetime.now(UTC).astimezone(TZ) - timedelta(days=1)).date()
    assert report["_held_on"] == yesterday and report["kind"] == "regular"
    assert (report["total"], report["present"], report["decisions"]) == (25, 20, None)
    assert report["opinions"] == "Đoàn viên đề nghị tổ chức sân chơi thể thao cuối tuần"
    with unit_of_work(db) as uow:
        files = [uow.documents.get(p["document"]) for p in report["photos"]]
        contents = [uow.documents.content(f) for f in files]
    assert [f.filename for f in files] == ["bien-ban.png", "diem-danh.png"] and contents == [PNG, PNG]


async def test_a_meeting_without_photos_does_not_mention_files(app, db):
    """WORDING.md: the thanks say nothing of attachments when there are none (never "kèm 0 tệp"),
    and the Vietnamese prompts say "ngày/tháng/năm", not "dd/mm/yyyy"."""
    async with WebUser(app, "branch") as user:
        await user.say("/language")
        await user.press("Tiếng Việt")
        await user.say("/sinhhoat")
        assert "(nhập ngày/tháng/năm, hoặc gõ “hôm nay”, “hôm qua”)" in user.text and "dd/mm" not in user.text
        await user.say("hôm qua")
        await user.press("Định kỳ")
        await user.say("Học tập Nghị quyết Đại hội Đoàn")
        await user.say("25")
        await user.say("20")
        await user.say("Quán triệt nghị quyết; phân công trực tiếp nhận ý kiến.")
        await user.press("Bỏ qua")
        await user.press("Bỏ qua")
        assert "Nếu không có, chọn “Bỏ qua”." in user.text
        await user.press("Bỏ qua")
        await user.press("Gửi báo cáo")
        assert "Cảm ơn đồng chí! Đã báo cáo buổi sinh hoạt ngày" in user.text
        assert "20/25 đoàn viên có mặt." in user.text and "tệp" not in user.text
    [report] = reports(db, "RG-VB-KP1")
    assert (report["present"], report.get("photos") or []) == (20, [])


async def test_the_same_day_again_and_a_year_back_are_asked_about(app, db):
    async with WebUser(app, "branch", language="en") as user:
        await report_until_photos(user)
        await user.press("Done")
        await user.press("Send the report")
        await user.say("/sinhhoat")
        await user.say("hôm qua")
        assert "already reported. Is this another meeting on the same day?" in user.text
        await user.press("No")
        assert "When was the meeting?" in user.text
        long_ago = (datetime.now(UTC).astimezone(TZ) - timedelta(days=400)).strftime("%d/%m/%Y")
        await user.say(long_ago)
        assert "is more than a year ago" in user.text
        await user.press("Yes")
        await user.press("Themed")
        await user.say("Chuyển đổi số")
        assert user.button("25")  # the branch's size, remembered from its last report
        await user.press("25")
        await user.say("18")
        await user.say("Hướng dẫn cài đặt ứng dụng Thanh niên Việt Nam")
        await user.press("Skip")
        await user.press("Skip")
        await user.press("Skip")
        await user.press("Send the report")
    assert [r["present"] for r in reports(db, "RG-VB-KP1")] == [18, 20]  # ordered by date


async def test_photos_sent_on_telegram_are_downloaded_and_kept(settings, org, db, tg):
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "8001", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    app = await started_unpaced(App(tg_settings(settings, tg, CHIDOAN_MAX_FILE_KB="1")))
    try:
        user = TgUser(tg, db, 8001, first_name="Dũng", language="en")
        await telegram_report_until_photos(user)
        await user.send_media(photo=True)
        assert "Received 1 of at most 10" in user.text
        await user.send_media(document=("bien-ban.pdf", b"%PDF-1.4 " + b"x" * 3000))  # over the 1 KB limit
        assert "too big: files up to 1 MB" in user.text
        for _ in range(10):  # an album of ten arrives as ten messages: the last is one too many
            await user.send_media(photo=True)
        assert "10 files are enough for one report" in user.text
        await user.press("Done")
        await user.press("Send the report")
        assert "10 file(s) attached" in user.text
    finally:
        await app.stop()
    [report] = reports(db, "RG-VB-KP1")
    with unit_of_work(db) as uow:
        files = [uow.documents.get(p["document"]) for p in report["photos"]]
        contents = [uow.documents.content(f) for f in files]
    assert len(files) == 10 and all(f.source for f in files) and all(c.startswith(b"\xff\xd8") for c in contents)
    assert len({f.source for f in files}) == 10  # each photo's own Telegram file_id kept


async def test_who_may_report_meetings(app, db):
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff", locale="en")
    async with WebUser(app, "staff", language="en") as staff:
        await staff.say("/sinhhoat")
        assert "Your role does not allow /sinhhoat" in staff.text


def test_settings_limit_files(tmp_path):
    assert make_settings(f"sqlite:///{tmp_path}/x.sqlite3").max_file_kb == 10 * 1024
