"""/xuat (/export) end to end: the .xlsx opened with openpyxl and every sheet's rows checked
against the database; the CLI writes the same workbook; a Zalo Bot user gets a download link
that works, then expires (410); access rules; one document through the fake Telegram Bot API."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import docx
import openpyxl
import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels.base import Limits
from chidoan.bot.channels.zalo_bot import ZaloBotChannel
from chidoan.bot.cli import main as cli
from chidoan.engine.jobs import standalone
from chidoan.storage.models import Document, ItemRating, ReportKind, ReviewAction, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, document_bytes, make_settings
from tests.fake_zalo_bot import FakeZaloBot
from tests.test_registration import PROGRAMME, TASKS, register
from tests.test_zalo_bot import ZaloUser

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHEETS = ["Đơn vị", "Kế hoạch", "Phần việc", "Sinh hoạt", "Đối thoại", "Cam kết", "Kiểm tra, đánh giá"]


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ).astimezone(UTC)


class Clock:
    """'Now' at a local moment, moved by hand."""

    def __init__(self, *parts: int):
        self.now = local(*parts)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, CHIDOAN_OBLIGATIONS_FROM="2026-01-01")


@pytest.fixture
def people(db, org):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.units.add(
            code="RG-AH",
            name="Đoàn phường An Hòa",
            kind="base_unit",
            parent=uow.units.by_code("RG"),
            reviews=False,
            now=now,
        )
    return {
        "sec": add_member(db, "sec", "Lê Văn Cường", "RG-VB", Role.secretary, locale="en"),
        "staff": add_member(db, "staff", "Trần Thị Bình", "RG", Role.district_staff),
        "ct": add_member(db, "ct", "Đỗ Văn Châu", "CT", Role.district_staff),
    }


def add_records(db, people) -> dict:
    """A meeting of RG-VB-KP1, a dialogue of RG-VB with two commitments, a plan of RG-AH typed
    with a formula-looking task, a rating and a review action; returns their ids."""
    now = local(2026, 10, 20, 9, 0)
    with unit_of_work(db) as uow:
        vb, kp1, ah = (uow.units.by_code(c) for c in ("RG-VB", "RG-VB-KP1", "RG-AH"))
        meeting = uow.reports.add(
            unit_id=kp1.id,
            kind=ReportKind.meeting,
            held_on=date(2027, 3, 5),
            data={
                "held_on": "2027-03-05",
                "kind": "regular",
                "theme": "Tháng Thanh niên",
                "total": 25,
                "present": 20,
                "content": "Triển khai kế hoạch tháng 3",
                "opinions": "Đề nghị tổ chức giao lưu",
                "decisions": None,
                "photos": [1, 2],
            },
            account_id=people["sec"],
            now=now,
        )
        questions = [
            {
                "question": "Sân chơi cho thiếu nhi",
                "answer": "Sẽ xem xét",
                "promised": "Xây sân chơi",
                "promised_by": "Chủ tịch UBND",
                "due": "2027-06-30",
            },
            {"question": "Việc làm", "answer": "Giới thiệu việc làm", "promised": None},
        ]
        dialogue = uow.reports.add(
            unit_id=vb.id,
            kind=ReportKind.dialogue,
            held_on=date(2027, 4, 10),
            data={
                "held_on": "2027-04-10",
                "level": "commune",
                "leaders": [{"name": "Nguyễn Văn Bảy", "title": "Bí thư Đảng ủy"}],
                "participants": 60,
                "questions": questions,
            },
            account_id=people["sec"],
            now=now,
        )
        commitment = uow.reports.add_commitment(
            report_id=dialogue,
            unit_id=vb.id,
            promise="Xây sân chơi",
            promised_by="Chủ tịch UBND",
            due_on=date(2027, 6, 30),
            now=now,
        )
        registration = uow.registrations.open(ah.id, PROGRAMME, 2027, now)
        data = {
            "area1": [
                {"item": "1.1", "what": '=HYPERLINK("http://x")', "when": "Tháng 3", "who": "BTV", "result": None}
            ],
            "area2": [
                {"item": "2.1", "what": "Sinh hoạt\x07 chi đoàn", "when": "Cả năm", "who": "BCH", "result": "12 buổi"}
            ],
            "area3": [],
            "purpose": "x",
            "implementation": "y",
        }
        uow.registrations.add_version(
            registration, data=data, account_id=people["sec"], now=now, on_time=False, document_id=None
        )
        vb_reg = uow.registrations.find(vb.id, PROGRAMME, 2027)
        uow.conn.execute(
            ItemRating.__table__.insert().values(
                registration_id=vb_reg.id,
                task=2,
                item="1.4",
                result="passed",
                note="Tốt",
                rated_by=people["staff"],
                rated_at=now,
            )
        )
        uow.conn.execute(
            ReviewAction.__table__.insert().values(
                unit_id=vb.id,
                registration_id=vb_reg.id,
                account_id=people["staff"],
                action="rate_task",
                detail={"task": 2, "result": "passed"},
                note="Tốt",
                at=local(2027, 12, 10, 8, 0),
            )
        )
    return {"meeting": meeting, "dialogue": dialogue, "commitment": commitment}


def workbook(content: bytes) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert book.sheetnames == SHEETS
    return {name: [list(row) for row in book[name].iter_rows(values_only=True)] for name in book.sheetnames}


async def plan_and_records(settings, db, people) -> dict:
    app = App(settings, clock=Clock(2026, 10, 10, 9, 0))
    await app.start()
    try:
        async with WebUser(app, "sec", language="en") as sec:
            await register(sec)
    finally:
        await app.stop()
    return add_records(db, people)


async def export_in_chat(settings, user_id: str, text: str, clock=None) -> tuple[App, list[dict]]:
    app = App(settings, clock=clock or Clock(2027, 12, 20, 9, 0))
    await app.start()
    try:
        async with WebUser(app, user_id) as user:
            await user.replies()
            replies = await user.say(text)
            await app.jobs.settled()
            replies += await user.replies()
    finally:
        await app.stop()
    return app, replies


def content_of(db, document_id: int) -> bytes:
    return document_bytes(db, document_id)


async def test_the_export_has_every_sheet_and_its_rows_match_the_database(settings, db, people):
    ids = await plan_and_records(settings, db, people)
    _app, replies = await export_in_chat(settings, "staff", "/xuat 2027")
    assert "Đang chuẩn bị tệp Excel năm 2027 của Thành đoàn Rạch Giá" in replies[0]["text"]
    sent = replies[-1]
    assert sent["document"]["filename"] == "chidoan-RG-2027.xlsx" and "4 đơn vị" in sent["text"]
    sheets = workbook(content_of(db, sent["document"]["id"]))

    with unit_of_work(db) as uow:
        vb_reg = uow.registrations.find(uow.units.by_code("RG-VB").id, PROGRAMME, 2027)
        version = uow.registrations.version(vb_reg.id, 1)
        submitted = vb_reg.first_submitted_at.astimezone(TZ).replace(tzinfo=None, microsecond=0)
        subtree = [u.code for u in uow.units.subtree(uow.units.by_code("RG"))]
    units = sheets["Đơn vị"]
    assert units[0][:6] == [
        "Mã",
        "Tên đơn vị",
        "Cấp",
        "Mã đơn vị cấp trên",
        "Mã Đoàn cấp trên trực tiếp",
        "Kế hoạch năm",
    ]
    assert [row[0] for row in units[1:]] == subtree == ["RG", "RG-VB", "RG-VB-KP1", "RG-AH"]
    assert units[1:] == [
        ["RG", "Thành đoàn Rạch Giá", "Đoàn cấp trên trực tiếp cơ sở", "KG", "KG", None, None, None, 0, 0, 0],
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            "Đoàn cơ sở",
            "RG",
            "RG",
            "Đúng hạn",
            submitted.replace(hour=0, minute=0, second=0),
            1,
            0,
            1,
            1,
        ],
        ["RG-VB-KP1", "Chi đoàn Khu phố 1", "Chi đoàn", "RG-VB", "RG", None, None, None, 1, 0, 0],
        ["RG-AH", "Đoàn phường An Hòa", "Đoàn cơ sở", "RG", "RG", "Trễ hạn", datetime(2026, 10, 20), 1, 0, 0, 0],
    ]
    assert sheets["Kế hoạch"][1:] == [
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            "“3 chủ động”",
            2027,
            "Đã gửi",
            1,
            submitted,
            "Có",
            datetime(2026, 10, 15),
            None,
        ],
        [
            "RG-AH",
            "Đoàn phường An Hòa",
            "“3 chủ động”",
            2027,
            "Đã gửi",
            1,
            datetime(2026, 10, 20, 9, 0),
            "Không",
            datetime(2026, 10, 15),
            None,
        ],
    ]
    registered = [t for area in (1, 2, 3) for t in version.data[f"area{area}"]]
    expected_tasks = [
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            1,
            n,
            t["item"],
            t["what"],
            t["when"],
            t["who"],
            t["result"],
            "Đạt" if n == 2 else None,
            "Tốt" if n == 2 else None,
        ]
        for n, t in enumerate(registered, 1)
    ]
    expected_tasks += [
        ["RG-AH", "Đoàn phường An Hòa", 1, 1, "1.1", '=HYPERLINK("http://x")', "Tháng 3", "BTV", None, None, None],
        ["RG-AH", "Đoàn phường An Hòa", 1, 2, "2.1", "Sinh hoạt chi đoàn", "Cả năm", "BCH", "12 buổi", None, None],
    ]
    assert len(registered) == sum(len(v) for v in TASKS.values())
    assert sheets["Phần việc"][1:] == expected_tasks  # a formula-looking task stays text; \x07 dropped
    assert sheets["Sinh hoạt"][1:] == [
        [
            "RG-VB-KP1",
            "Chi đoàn Khu phố 1",
            datetime(2027, 3, 5),
            "Đã gửi",
            1,
            "Định kỳ",
            "Tháng Thanh niên",
            25,
            20,
            "Triển khai kế hoạch tháng 3",
            "Đề nghị tổ chức giao lưu",
            None,
            2,
        ],
    ]
    assert sheets["Đối thoại"][1:] == [
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            datetime(2027, 4, 10),
            "Đã gửi",
            1,
            "Cấp xã",
            "Nguyễn Văn Bảy, Bí thư Đảng ủy",
            60,
            2,
            1,
        ],
    ]
    assert sheets["Cam kết"][1:] == [
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            datetime(2027, 4, 10),
            "Xây sân chơi",
            "Chủ tịch UBND",
            datetime(2027, 6, 30),
            "Chưa theo dõi",
            None,
        ],
    ]
    assert sheets["Kiểm tra, đánh giá"][1:] == [
        [
            "RG-VB",
            "Đoàn phường Vĩnh Bảo",
            datetime(2027, 12, 10, 8, 0),
            "Trần Thị Bình",
            "rate_task",  # not an action the review commands write: as stored
            "Phần việc 2: Đạt",
            "Tốt",
        ],
    ]
    assert ids["commitment"]


async def test_the_cli_writes_the_same_workbook(settings, db, people, tmp_path, monkeypatch):
    await plan_and_records(settings, db, people)
    _app, replies = await export_in_chat(settings, "staff", "/export 2027")
    in_chat = workbook(content_of(db, replies[-1]["document"]["id"]))
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    out = tmp_path / "rg.xlsx"

    def run(*args: str) -> int:  # the CLI runs its own event loop
        return cli(list(args))

    assert (
        await asyncio.to_thread(run, "export", "--district", "RG", "--year", "2027", "--out", str(out), "--quiet") == 0
    )
    assert workbook(out.read_bytes()) == in_chat
    assert await asyncio.to_thread(run, "export", "--district", "NOPE", "--year", "2027", "--out", str(out)) == 2
    docx_out = tmp_path / "bc.docx"
    assert (
        await asyncio.to_thread(run, "document", "compiled", "--unit", "RG", "--year", "2027", "--out", str(docx_out))
        == 0
    )
    text = "\n".join(p.text for p in docx.Document(str(docx_out)).paragraphs)
    assert "Số Đoàn cơ sở đã đăng ký: 2 đơn vị, đạt tỷ lệ 100%" in text
    none_passed = await asyncio.to_thread(
        run, "document", "decision", "--unit", "RG", "--year", "2027", "--out", str(docx_out)
    )
    assert none_passed == 1


async def test_access_to_exports(settings, db, people):
    await plan_and_records(settings, db, people)
    app = App(settings, clock=Clock(2027, 12, 20, 9, 0))
    await app.start()
    try:
        add_member(db, "sec_ah", "Ngô Thị Hoa", "RG-AH", Role.secretary, locale="en")
        async with WebUser(app, "ct") as ct, WebUser(app, "sec_ah") as sec, WebUser(app, "staff") as staff:
            await staff.replies()
            refused = await ct.say("/xuat RG")
            assert "Không tìm thấy đơn vị “RG”" in refused[0]["text"]
            with unit_of_work(db) as uow:
                rg = uow.units.by_code("RG").id
            refused = await ct.send_frame({"type": "button", "payload": f"doc:x:{rg}:2027"})
            assert "không còn dùng được" in refused[0]["text"]
            refused = await sec.say("/xuat")
            assert "Your role does not allow /xuat" in refused[0]["text"]
            # A code inside one's subtree narrows the export to it.
            replies = await staff.say("/xuat RG-VB 2027")
            await app.jobs.settled()
            replies += await staff.replies()
            assert replies[-1]["document"]["filename"] == "chidoan-RG-VB-2027.xlsx"
    finally:
        await app.stop()
    with db.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(Document.__table__))]
    assert kinds.count("export") == 1  # CT's attempts made nothing
    sheets = workbook(content_of(db, replies[-1]["document"]["id"]))
    assert [row[0] for row in sheets["Đơn vị"][1:]] == ["RG-VB", "RG-VB-KP1"]


@pytest.fixture
async def zalo():
    async with FakeZaloBot() as fake:
        yield fake


async def test_a_zalo_bot_user_gets_a_link_that_downloads_then_expires(settings, db, people, zalo, monkeypatch):
    monkeypatch.setattr(ZaloBotChannel, "limits", Limits())
    add_member(db, "8009", "Trần Thị Bình", "RG", Role.district_staff, channel="zalo_bot")
    port_settings = make_settings(settings.database_url, ZALO_BOT_TOKEN=zalo.token, ZALO_BOT_API_URL=zalo.base_url)
    base = f"http://127.0.0.1:{port_settings.web_port}"
    zalo_settings = make_settings(
        settings.database_url,
        ZALO_BOT_TOKEN=zalo.token,
        ZALO_BOT_API_URL=zalo.base_url,
        CHIDOAN_WEB_PORT=port_settings.web_port,
        CHIDOAN_WEB_ENABLED=False,  # the download route works without the web chat
        CHIDOAN_PUBLIC_URL=base + "/",
        CHIDOAN_LINK_HOURS=24,
    )
    clock = Clock(2027, 12, 20, 9, 0)
    app = App(zalo_settings, clock=clock)
    await app.start()
    try:
        user = ZaloUser(zalo, db, "8009", name="Bình")
        await user.say("/xuat 2027")
        await app.jobs.settled()
        await user.replies()
        text = user.text
        assert "Tải tệp “chidoan-RG-2027.xlsx” tại đây (liên kết dùng được đến 09:00 21/12/2027)" in text
        url = text.rsplit(": ", 1)[1].strip()
        assert url.startswith(base + "/files/")
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                )
                assert "chidoan-RG-2027.xlsx" in response.headers["Content-Disposition"]
                assert workbook(await response.read())["Đơn vị"][1][0] == "RG"
            forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
            async with http.get(forged) as response:
                assert response.status == 404
            longer = url.replace("-", "-9", 1)  # another document id with the same signature
            async with http.get(longer) as response:
                assert response.status == 404
            with unit_of_work(db) as uow:  # the web chat's own token is not served with it off
                token = uow.documents.get(1).token
            async with http.get(f"{base}/files/{token}") as response:
                assert response.status == 404
            clock.now += timedelta(hours=24, seconds=1)
            async with http.get(url) as response:
                assert response.status == 410
                assert "Liên kết tải tệp đã hết hạn" in await response.text()
    finally:
        await app.stop()


async def test_without_a_public_address_a_zalo_bot_user_is_told_whom_to_ask(settings, db, people, zalo, monkeypatch):
    monkeypatch.setattr(ZaloBotChannel, "limits", Limits())
    add_member(db, "8010", "Trần Thị Bình", "RG", Role.district_staff, channel="zalo_bot")
    app = App(
        make_settings(settings.database_url, ZALO_BOT_TOKEN=zalo.token, ZALO_BOT_API_URL=zalo.base_url),
        clock=Clock(2026, 10, 22, 9, 0),
    )
    await app.start()
    try:
        user = ZaloUser(zalo, db, "8010", name="Bình")
        await user.say("/baocaohuyen")
        await app.jobs.settled()
        await user.replies()
        assert "Zalo không gửi được tệp “BC-3CD-2027-TDRG.docx”" in user.text and "quản trị viên" in user.text
        assert "http" not in user.text
        assert "gõ /baocaohuyen trên Telegram" in user.text and "/kehoach" not in user.text  # what sends this file
    finally:
        await app.stop()


def test_the_note_without_a_link_names_only_a_command_that_sends_that_file(settings):
    """A plan comes by /kehoach, /xem or /duyet depending on who reads it: its note names no
    command; a data copy's names /dulieu; neither speaks of plans unless it is one."""
    from chidoan.bot.downloads import file_note
    from chidoan.engine.messages import Attachment

    plan = file_note("vi", Attachment(1, "KH-2027.docx", kind="plan"), settings)
    assert "/kehoach" not in plan and "bằng chính lệnh đã gửi tệp này" in plan and "quản trị viên" in plan
    copy = file_note("vi", Attachment(2, "chidoan-data-2.json", kind="data_export"), settings)
    assert "gõ /dulieu trên Telegram" in copy and "kế hoạch" not in copy and "kehoach" not in copy


async def test_the_compiled_report_through_the_fake_telegram_api(settings, db, people, tg):
    from tests.test_telegram import TgUser, started_unpaced, tg_settings

    add_member(db, "7002", "Phan Văn Tỉnh", "KG", Role.district_staff, channel="telegram")
    add_member(db, "7003", "Trần Văn Rạch", "RG", Role.district_staff, channel="telegram")
    await plan_and_records(settings, db, people)
    app = await started_unpaced(App(tg_settings(settings, tg), clock=Clock(2026, 10, 23, 9, 0)))
    try:
        user = TgUser(tg, db, 7003, first_name="Rạch", language="vi")
        await user.say("/baocaohuyen")
        await app.jobs.settled()

        # The plans' own notices reach 7003 as documents too (each carries its .docx): the report is the BC-.
        def compiled(c) -> bool:
            return c.method == "sendDocument" and c.params["document"].filename.startswith("BC-")

        await tg.wait_for(lambda calls: any(compiled(c) and c.status == 200 for c in calls), timeout=10)
        [call] = [c for c in tg.calls_of("sendDocument") if compiled(c)]
        assert str(call.params["chat_id"]) == "7003" and "2 trên 3 đơn vị" not in call.params["caption"]
        assert "2 trên 2 đơn vị đã đăng ký" in call.params["caption"]
        upload = call.params["document"]
        assert upload.filename == "BC-3CD-2027-TDRG.docx"
        text = "\n".join(p.text for p in docx.Document(io.BytesIO(upload.data)).paragraphs)
        assert "Số Đoàn cơ sở đã đăng ký: 2 đơn vị" in text
        # The button under the document sends it to the province's staff on Telegram.
        markup = call.params["reply_markup"]
        [[button]] = markup["inline_keyboard"]
        assert button["text"] == "📤 Gửi lên Tỉnh đoàn Kiên Giang"
        data = button["callback_data"]  # pressed under the document (not a sendMessage)
        await user.send(tg.callback_update(7003, data, message_id=user._message_id_with(data), language_code="vi"))
        assert "đã được gửi lên Tỉnh đoàn Kiên Giang" in user.text
        await tg.wait_for(
            lambda calls: any(
                c.method == "sendDocument" and str(c.params["chat_id"]) == "7002" and c.status == 200 for c in calls
            ),
            timeout=10,
        )
        upward = [c for c in tg.calls_of("sendDocument") if str(c.params["chat_id"]) == "7002"]
        assert "Thành đoàn Rạch Giá đã gửi báo cáo tổng hợp" in upward[0].params["caption"]
        assert upward[0].params["document"].data == upload.data
    finally:
        await app.stop()


async def test_a_large_export_runs_in_a_child_process_and_gives_the_same_workbook(settings, db, people, monkeypatch):
    from chidoan.handlers import documents

    await plan_and_records(settings, db, people)
    _app, replies = await export_in_chat(settings, "staff", "/xuat 2027")
    in_thread = workbook(content_of(db, replies[-1]["document"]["id"]))
    monkeypatch.setattr(documents, "CHILD_ABOVE", 0)  # as a province's is
    add_member(db, "staff2", "Lý Văn Hai", "RG", Role.district_staff)
    _app, replies = await export_in_chat(settings, "staff2", "/xuat 2027")
    assert "4 đơn vị" in replies[-1]["text"]
    assert workbook(content_of(db, replies[-1]["document"]["id"])) == in_thread


async def test_on_zalo_oa_the_spreadsheet_goes_as_a_link_and_the_report_as_a_file(settings, db, people):
    from tests.fake_zalo_oa import FakeZaloOA
    from tests.test_zalo_oa import ZaloUser as OaUser
    from tests.test_zalo_oa import zalo_settings as oa_settings

    add_member(db, "8123", "Trần Thị Bình", "RG", Role.district_staff, channel="zalo")
    async with FakeZaloOA() as zalo:
        plain = oa_settings(settings.database_url, zalo)
        oa = oa_settings(
            settings.database_url,
            zalo,
            CHIDOAN_WEB_PORT=plain.web_port,
            CHIDOAN_PUBLIC_URL="https://chidoan.example.vn",
        )
        app = App(oa, clock=Clock(2026, 10, 22, 9, 0))
        await app.start()
        try:
            user = OaUser(zalo, app, db, "8123")
            await user.say("/xuat 2026")
            await app.jobs.settled()
            await user.replies()
            assert (
                "Tải tệp “chidoan-RG-2026.xlsx” tại đây" in user.text
                and "https://chidoan.example.vn/files/" in user.text
            )
            assert not zalo.calls_to("upload/file")  # Zalo's upload takes no spreadsheet
            await user.say("/baocaohuyen")
            await app.jobs.settled()
            await user.replies()
            [upload] = zalo.calls_to("upload/file")
            assert upload.file is not None and upload.file[0] == "BC-3CD-2027-TDRG.docx"
        finally:
            await app.stop()


async def test_the_export_and_the_compiled_report_read_the_same_on_postgresql(pg_url):
    from chidoan.documents.gather import compiled_document
    from chidoan.exports.xlsx import export
    from chidoan.programmes.loader import programmes
    from chidoan.storage.db import make_db, upgrade
    from tests.conftest import seed_org

    pg_settings = make_settings(pg_url, CHIDOAN_OBLIGATIONS_FROM="2026-01-01")
    engine = make_db(pg_settings.database_url)
    try:
        upgrade(engine)
        seed_org(engine)
        now = datetime.now(UTC)
        with unit_of_work(engine) as uow:
            uow.units.add(
                code="RG-AH",
                name="Đoàn phường An Hòa",
                kind="base_unit",
                parent=uow.units.by_code("RG"),
                reviews=False,
                now=now,
            )
        people = {
            "sec": add_member(engine, "sec", "Lê Văn Cường", "RG-VB", Role.secretary),
            "staff": add_member(engine, "staff", "Trần Thị Bình", "RG", Role.district_staff),
        }
        with unit_of_work(engine) as uow:  # RG-VB's plan, sent on time
            vb = uow.units.by_code("RG-VB")
            registration = uow.registrations.open(vb.id, PROGRAMME, 2027, local(2026, 10, 1, 9, 0))
            data = {
                f"area{a}": [{"item": f"{a}.1", "what": f"Phần việc {a}", "when": "Quý I", "who": "BTV"}]
                for a in (1, 2, 3)
            }
            data |= {"area1": data["area1"] * 2, "purpose": "x", "implementation": "y"}
            uow.registrations.add_version(
                registration,
                data=data,
                account_id=people["sec"],
                now=local(2026, 10, 1, 9, 0),
                on_time=True,
                document_id=None,
            )
        add_records(engine, people)

        read, render = standalone(engine)

        with unit_of_work(engine) as uow:
            rg = uow.units.by_code("RG").id
        sheets = workbook(await export(read, render, rg, 2027, pg_settings, now=local(2027, 12, 20, 9, 0)))
        assert [row[0] for row in sheets["Đơn vị"][1:]] == ["RG", "RG-VB", "RG-VB-KP1", "RG-AH"]
        assert [row[5] for row in sheets["Đơn vị"][1:]] == [None, "Đúng hạn", None, "Trễ hạn"]
        assert [row[5] for row in sheets["Phần việc"][1:]] == [
            "Phần việc 1",
            "Phần việc 1",
            "Phần việc 2",
            "Phần việc 3",
            '=HYPERLINK("http://x")',
            "Sinh hoạt chi đoàn",
        ]
        assert sheets["Phần việc"][2][9:] == ["Đạt", "Tốt"]
        assert len(sheets["Sinh hoạt"]) == 2 and len(sheets["Đối thoại"]) == 2 and len(sheets["Cam kết"]) == 2
        assert sheets["Kiểm tra, đánh giá"][1][4] == "rate_task"
        programme = programmes(pg_settings)[PROGRAMME]
        doc = await compiled_document(read, rg, programme, 2027, date(2026, 10, 22), pg_settings)
        assert (doc.expected, doc.on_time, doc.late, doc.missing) == (2, 1, 1, 0)
        assert [len(u.tasks) for u in doc.units] == [4, 2]
        with unit_of_work(engine) as uow:  # the sending's record, its document's row locked first
            document_id = uow.documents.add(kind="compiled", filename="BC.docx", content=b"x", now=now)
            assert uow.compiled.by_document(document_id) is None
            uow.compiled.add(
                unit_id=rg,
                programme=PROGRAMME,
                year=2027,
                document_id=document_id,
                sent_by=people["staff"],
                sent_at=now,
                on_time=True,
            )
            assert uow.compiled.by_document(document_id).unit_id == rg
    finally:
        engine.dispose()


def _unit_column(settings, db, code: str, chunk: int, column: int = 10) -> dict:
    """One column of the sheet "Đơn vị" of `code`'s export, by unit code, read `chunk` units at a time."""
    from chidoan.exports.xlsx import export

    read, render = standalone(db)

    with unit_of_work(db) as uow:
        root = uow.units.by_code(code).id
    content = asyncio.run(
        export(read, render, root, 2026, settings, chunk_size=chunk, now=datetime(2026, 11, 20, tzinfo=UTC))
    )
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Đơn vị"]
    return {row[0]: row[column] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_open_commitments_per_unit_agree_with_the_status_whatever_the_chunks(settings, db, people):
    """Commitments are counted by their own unit (a merge moves them, not their dialogue), only
    those still open as the status counts them, and the same however the export is chunked."""
    from sqlalchemy import insert

    from chidoan.bot.orgmerge import merge_units
    from chidoan.programmes.loader import programmes
    from chidoan.review.status import status_of
    from chidoan.storage.models import Commitment, table

    writer = add_member(db, "ml", "Ngô Văn Minh", "CT-ML", Role.secretary)
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        ml, vb = uow.units.by_code("CT-ML"), uow.units.by_code("RG-VB")
        for unit, statuses in ((ml, ("open",)), (vb, ("open", "in_progress", "not_done", "done"))):
            rid = uow.reports.add(
                unit_id=unit.id, kind="dialogue", held_on=date(2026, 6, 1), data={}, account_id=writer, now=now
            )
            for status in statuses:
                uow.conn.execute(
                    insert(table(Commitment)).values(
                        report_id=rid,
                        unit_id=unit.id,
                        promise="Sửa đèn",
                        promised_by="UBND",
                        due_on=date(2026, 9, 1),
                        status=status,
                        created_at=now,
                        updated_at=now,
                    )
                )
    merge_units(db, "CT-ML", "RG-VB", settings=settings, now=now)  # Minh Lương's commitment is Vĩnh Bảo's now
    with unit_of_work(db) as uow:
        status = status_of(
            uow,
            uow.units.by_code("RG"),
            programmes(settings)[PROGRAMME],
            2026,
            today=date(2026, 11, 20),
            settings=settings,
        )
    assert {u.code: u.open_commitments for u in status.units}["RG-VB"] == 2
    for code, chunk in (("KG", 150), ("KG", 1), ("KG", 3), ("RG", 150), ("RG", 1)):
        assert _unit_column(settings, db, code, chunk)["RG-VB"] == 2, (code, chunk)


async def test_xuat_sent_twice_queues_one_export(settings, db, people):
    from chidoan.storage.models import Job

    app = App(settings, clock=Clock(2027, 12, 20, 9, 0))
    await app.start()
    try:
        async with WebUser(app, "staff") as staff:
            await staff.replies()
            await app.jobs.stop()  # the first export is still waiting when it is asked again
            first = await staff.say("/xuat")
            second = await staff.say("/xuat")
        assert "Đang chuẩn bị" in first[-1]["text"]
        assert second[-1]["text"] == (
            "Đang chuẩn bị rồi: Thành đoàn Rạch Giá, năm 2027. Sẽ gửi ngay khi xong, đồng chí không cần gửi lại."
        )
        with db.connect() as conn:
            assert len(list(conn.execute(select(Job.__table__)))) == 1
    finally:
        await app.stop()


def test_the_review_actions_sheet_is_in_vietnamese(settings, db, people):
    """The sheet "Kiểm tra, đánh giá" names each action as /donvi does and writes its detail as
    text, never the stored codes and JSON."""
    from tests.test_review import submit_direct

    reg_id = submit_direct(db, "RG-VB", people["sec"])
    with unit_of_work(db) as uow:
        reg = uow.registrations.one(reg_id)
        vb = uow.units.by_code("RG-VB")
        uow.reviews.give_back(
            reg,
            parts=["task:2", "section:I"],
            comment="Sửa phần việc 2",
            account_id=people["staff"],
            now=local(2027, 1, 5, 8, 0),
        )
        for minute, action, detail in (
            (1, "rate", {"task": 3, "item": "1.4", "result": "not_passed", "version": 1}),
            (2, "result", {"proposed": "passed", "result": "not_passed", "overridden": True}),
            (3, "result", {"proposed": "passed", "result": "passed", "overridden": False}),
            (4, "accept", {"version": 2}),
        ):
            uow.reviews.record(
                vb.id, people["staff"], action, local(2027, 12, 10, 8, minute), registration_id=reg_id, detail=detail
            )

    read, render = standalone(db)

    from chidoan.exports.xlsx import export

    with unit_of_work(db) as uow:
        root = uow.units.by_code("RG").id
    content = asyncio.run(export(read, render, root, 2027, settings, now=local(2027, 12, 20, 9, 0)))
    rows = workbook(content)["Kiểm tra, đánh giá"][1:]
    assert [row[4:6] for row in rows] == [
        ["đã trả lại để sửa", "Phần việc 2, Mục I; ý kiến: Sửa phần việc 2; phiên bản 1"],
        ["đánh giá một phần việc", "Phần việc 3 (1.4): Không đạt; phiên bản 1"],
        ["đánh giá kết quả năm", "Đề xuất: Đạt / điều chỉnh: Không đạt"],
        ["đánh giá kết quả năm", "Đạt"],
        ["đã chấp nhận", "Phiên bản 2"],
    ]
