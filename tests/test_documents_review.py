"""The reviewing unit's documents end to end through the web chat (and one through the fake
Telegram Bot API): /baocaohuyen's compiled report and /quyetdinh's decision, opened with
python-docx and checked against the database; the "send upward" button; who may do what."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import docx
import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.storage.models import CompiledReport, Registration, ReviewResult, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, bound_on, document_bytes, make_settings
from tests.test_registration import PROGRAMME, TASKS, clock_at, register

# RG reviews RG-VB (on time), RG-AH (late), RG-TH (nobody joined: missing); KG reviews RG and
# CT, and KG-CD directly.
EXTRA_UNITS = [("RG-AH", "Đoàn phường An Hòa"), ("RG-TH", "Đoàn xã Thạnh Hưng")]


@pytest.fixture
def docs_settings(database_url):
    # Units nobody has joined owe the plans due after this day (the start rule).
    return make_settings(database_url, CHIDOAN_OBLIGATIONS_FROM="2026-01-01")


@pytest.fixture
def people(db, org):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        rg = uow.units.by_code("RG")
        for code, name in EXTRA_UNITS:
            uow.units.add(code=code, name=name, kind="base_unit", parent=rg, reviews=False, now=now)
    found = {
        "sec": add_member(db, "sec", "Lê Văn Cường", "RG-VB", Role.secretary, locale="en"),
        "sec_ah": add_member(db, "sec_ah", "Ngô Thị Hoa", "RG-AH", Role.secretary, locale="en"),
        "staff": add_member(db, "staff", "Trần Thị Bình", "RG", Role.district_staff),
        "prov": add_member(db, "prov", "Phan Văn Tỉnh", "KG", Role.district_staff),
        "ct": add_member(db, "ct", "Đỗ Văn Châu", "CT", Role.district_staff),
    }
    for account_id in found.values():
        bound_on(db, account_id, 2026, 9, 1, 8, 0)  # joined before the plans were due
    return found


@pytest.fixture
def settings(docs_settings):
    return docs_settings


async def started(settings, *local) -> App:
    app = App(settings, clock=clock_at(*local))
    await app.start()
    return app


async def submit_plans(settings) -> None:
    """RG-VB registers on 10/10/2026 (on time), RG-AH on 20/10/2026 (late), through the journey."""
    for user_id, local, tasks in (
        ("sec", (2026, 10, 10, 9, 0), TASKS),
        ("sec_ah", (2026, 10, 20, 9, 0), {1: TASKS[1][:1], 2: TASKS[2], 3: TASKS[3]}),
    ):
        app = await started(settings, *local)
        try:
            async with WebUser(app, user_id, language="en") as sec:
                await register(sec, tasks)
                assert "submitted (version 1)" in sec.text
        finally:
            await app.stop()


async def ask(app: App, user: WebUser, text: str) -> list[dict]:
    replies = await user.say(text)
    await app.jobs.settled()
    return replies + await user.replies()


def open_docx(db, document_id: int) -> docx.Document:
    return docx.Document(io.BytesIO(document_bytes(db, document_id)))


def table_rows(document: docx.Document, first_header: str, second_header: str) -> list[list[str]]:
    for table in document.tables:
        head = [c.text for c in table.rows[0].cells]
        if head[:2] == [first_header, second_header]:
            return [[c.text for c in row.cells] for row in table.rows[1:]]
    raise AssertionError(f"no table headed {first_header}, {second_header}")


def tables_headed(document: docx.Document, header: list[str]) -> list[list[list[str]]]:
    return [
        [[c.text for c in row.cells] for row in table.rows[1:]]
        for table in document.tables
        if [c.text for c in table.rows[0].cells] == header
    ]


def registrations(db) -> dict[str, object]:
    with unit_of_work(db) as uow:
        return {
            code: uow.registrations.find(uow.units.by_code(code).id, PROGRAMME, 2027)
            for code in ("RG-VB", "RG-AH", "RG-TH")
        }


async def test_the_compiled_report_counts_lists_and_appends_what_the_units_registered(settings, db, people):
    await submit_plans(settings)
    app = await started(settings, 2026, 10, 22, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.replies()  # the notices of the two plans, held while the chat was closed
            replies = await ask(app, staff, "/baocaohuyen")
            assert "Đang soạn báo cáo tổng hợp" in replies[0]["text"] and "2027" in replies[0]["text"]
            sent = replies[-1]
            assert sent["document"]["filename"] == "BC-3CD-2027-TDRG.docx"
            assert "2 trên 3" in sent["text"]
            [[button]] = sent["buttons"]
            assert button["label"] == "📤 Gửi lên Tỉnh đoàn Kiên Giang"
    finally:
        await app.stop()

    regs = registrations(db)
    assert regs["RG-VB"].on_time is True and regs["RG-AH"].on_time is False and regs["RG-TH"] is None
    document = open_docx(db, sent["document"]["id"])
    text = "\n".join(p.text for p in document.paragraphs)
    assert "BÁO CÁO" in text and "Kết quả đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027" in text
    assert "Tổng số Đoàn cơ sở phải đăng ký: 3 đơn vị." in text
    assert "Số Đoàn cơ sở đã đăng ký: 2 đơn vị, đạt tỷ lệ 66,7%" in text
    assert "đúng hạn (trước ngày 15/10/2026): 1 đơn vị, đạt tỷ lệ 33,3%; trễ hạn: 1 đơn vị." in text
    assert "Số Đoàn cơ sở chưa đăng ký: 1 đơn vị." in text
    header = "\n".join(c.text for c in document.tables[0].rows[1].cells)
    assert "Số: …-BC/TĐRG" in header and "Rạch Giá, ngày 22 tháng 10 năm 2026" in header
    assert "TỈNH ĐOÀN KIÊN GIANG" in document.tables[0].rows[0].cells[0].text
    units = table_rows(document, "STT", "Đoàn cơ sở")
    assert units == [
        ["1", "Đoàn phường Vĩnh Bảo", "10/10/2026", "4", "Đúng hạn"],
        ["2", "Đoàn phường An Hòa", "20/10/2026", "3", "Trễ hạn"],
        ["3", "Đoàn xã Thạnh Hưng", "", "", "Chưa đăng ký"],
    ]
    appendix = tables_headed(document, ["STT", "Nội dung", "Phần việc", "Thời gian", "Phụ trách"])
    with unit_of_work(db) as uow:
        expected = []
        for code in ("RG-VB", "RG-AH"):
            version = uow.registrations.version(regs[code].id, 1)
            expected.append(
                [
                    [str(n), t["item"], t["what"], t["when"], t["who"]]
                    for n, t in enumerate((t for a in (1, 2, 3) for t in version.data[f"area{a}"]), 1)
                ]
            )
    assert appendix == expected
    assert (
        "1. Đoàn phường Vĩnh Bảo" in text
        and "2. Đoàn phường An Hòa" in text
        and "Thạnh Hưng" not in text.split("PHỤ LỤC")[1]
    )


async def test_sending_the_compiled_report_upward_records_it_once_and_the_province_gets_it(settings, db, people):
    await submit_plans(settings)
    app = await started(settings, 2026, 10, 23, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "prov") as prov:
            await staff.replies()
            await ask(app, staff, "/baocaohuyen 2027")
            payload = staff.button("Gửi lên")
            replies = await staff.press("Gửi lên")
            assert (
                "đã được gửi lên Tỉnh đoàn Kiên Giang, đúng hạn (hạn chót: trước ngày 25/10/2026)" in replies[0]["text"]
            )
            assert "1 cán bộ" in replies[0]["text"]
            again = await staff.send_frame({"type": "button", "payload": payload})
            assert "đã được gửi lên Tỉnh đoàn Kiên Giang ngày 23/10/2026" in again[0]["text"]
            received = await prov.replies()
            [notice] = received
            assert "Thành đoàn Rạch Giá đã gửi báo cáo tổng hợp" in notice["text"]
            assert notice["document"]["filename"] == "BC-3CD-2027-TDRG.docx"
            assert notice["file"]["url"].startswith("/files/")
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        [row] = list(uow.conn.execute(select(CompiledReport.__table__)))
        assert (row.unit_id, row.programme, row.year, row.on_time) == (
            uow.units.by_code("RG").id,
            PROGRAMME,
            2027,
            True,
        )
        assert row.document_id == notice["document"]["id"] and row.sent_by == people["staff"]


async def test_a_late_sending_is_recorded_late_and_a_forged_button_is_refused(settings, db, people):
    app = await started(settings, 2026, 10, 27, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "ct") as ct:
            await ask(app, staff, "/baocaohuyen")
            payload = staff.button("Gửi lên")
            # CT's staff pressing RG's button, and a signature bent to another document: refused.
            refused = await ct.send_frame({"type": "button", "payload": payload})
            assert "không còn dùng được" in refused[0]["text"]
            prefix, _, sig = payload.rpartition(":")
            document_id = int(prefix.split(":")[2])
            forged = prefix.replace(f"doc:up:{document_id}:", f"doc:up:{document_id + 1}:", 1) + ":" + sig
            refused = await staff.send_frame({"type": "button", "payload": forged})
            assert "không còn dùng được" in refused[0]["text"]
            huge = "9" * 23  # more than SQLite's 64-bit INTEGER
            for bad in (
                "doc:up:1:2",
                "doc:c:99999:2027",
                "doc:c:abc:2027",
                "doc:x:1:²⁰²⁷",
                f"doc:x:{huge}:2027",
                f"doc:up:{huge}:{huge}:2027:{'A' * 22}",
                "doc:up:1:1:2027:" + "\u200b" * 22,
                "doc:zz:1:2027",
                "doc:",
            ):
                refused = await staff.send_frame({"type": "button", "payload": bad})
                assert "không còn dùng được" in refused[0]["text"], bad
            sent = await staff.send_frame({"type": "button", "payload": payload})
            assert "trễ hạn (hạn chót là trước ngày 25/10/2026)" in sent[0]["text"]
    finally:
        await app.stop()
    with unit_of_work(db) as uow:
        [row] = list(uow.conn.execute(select(CompiledReport.__table__)))
        assert row.on_time is False


async def test_the_decision_lists_exactly_the_units_that_passed(settings, db, people):
    await submit_plans(settings)
    at = datetime(2027, 12, 15, 2, 0, tzinfo=UTC)
    with unit_of_work(db) as uow:  # the year-end rating, through the review's storage
        for code, results, result in (
            ("RG-VB", ["passed", "passed", "not_passed", "passed"], ReviewResult.passed),
            ("RG-AH", ["not_passed", "passed", "not_passed"], ReviewResult.not_passed),
        ):
            registration = uow.registrations.find(uow.units.by_code(code).id, PROGRAMME, 2027)
            data = uow.registrations.version(registration.id, 1).data
            items = [t["item"] for a in (1, 2, 3) for t in data[f"area{a}"]]
            for task, (item, rated) in enumerate(zip(items, results, strict=True), 1):
                uow.reviews.rate(
                    registration,
                    task=task,
                    item=item,
                    result=rated,
                    seen=None,
                    note=None,
                    account_id=people["staff"],
                    now=at,
                )
            uow.reviews.set_result(
                registration, proposed=result, result=result, note=None, account_id=people["staff"], now=at
            )
    app = await started(settings, 2027, 12, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.replies()
            replies = await ask(app, staff, "/quyetdinh 2027")
            sent = replies[-1]
            assert sent["document"]["filename"] == "QD-3CD-2027-TDRG.docx"
    finally:
        await app.stop()
    document = open_docx(db, sent["document"]["id"])
    text = "\n".join(p.text for p in document.paragraphs)
    assert "QUYẾT ĐỊNH" in text and "V/v công nhận Đoàn cơ sở “3 chủ động” năm 2027" in text
    assert "Công nhận 01 Đoàn cơ sở đạt danh hiệu Đoàn cơ sở “3 chủ động” năm 2027" in text
    assert "BAN THƯỜNG VỤ THÀNH ĐOÀN RẠCH GIÁ" in text
    assert table_rows(document, "STT", "Đoàn cơ sở") == [["1", "Đoàn phường Vĩnh Bảo", "3/4"]]
    with unit_of_work(db) as uow:
        passed = [
            r.unit_id for r in uow.conn.execute(select(Registration.__table__)) if r.result == ReviewResult.passed
        ]
        assert passed == [uow.units.by_code("RG-VB").id]


async def test_no_decision_without_a_passed_unit_and_access_is_checked(settings, db, people):
    app = await started(settings, 2027, 12, 20, 9, 0)
    try:
        async with WebUser(app, "staff") as staff, WebUser(app, "sec") as sec, WebUser(app, "nobody") as nobody:
            replies = await ask(app, staff, "/quyetdinh")
            assert "chưa có đơn vị nào đạt" in replies[-1]["text"] and "document" not in replies[-1]
            refused = await sec.say("/baocaohuyen")
            assert "Your role does not allow /baocaohuyen" in refused[0]["text"]
            refused = await sec.say("/quyetdinh")
            assert "Your role does not allow /quyetdinh" in refused[0]["text"]
            refused = await nobody.say("/decision")
            assert "chưa đăng ký" in refused[0]["text"].lower()
            refused = await ask(app, staff, "/baocaohuyen 2031")
            assert "2031 không phải năm kế hoạch" in refused[0]["text"]
    finally:
        await app.stop()


async def test_staff_of_two_reviewing_units_choose_and_the_province_has_no_button(settings, db, people):
    with unit_of_work(db) as uow:  # Bình is also staff of the province
        uow.roles.grant(
            account_id=people["staff"],
            unit_id=uow.units.by_code("KG").id,
            role=Role.district_staff,
            invite_id=None,
            now=datetime.now(UTC),
        )
    app = await started(settings, 2026, 10, 22, 9, 0)
    try:
        async with WebUser(app, "staff") as staff:
            await staff.say("/baocaohuyen")
            assert [b["label"] for row in staff.last[0]["buttons"] for b in row] == [
                "Tỉnh đoàn Kiên Giang",
                "Thành đoàn Rạch Giá",
            ]
            await staff.press("Tỉnh đoàn Kiên Giang")
            await app.jobs.settled()
            sent = (await staff.replies())[-1]
            assert sent["document"]["filename"] == "BC-3CD-2027-TDKG.docx" and not sent.get("buttons")
    finally:
        await app.stop()
    document = open_docx(db, sent["document"]["id"])
    # The province reviews one base unit directly (KG-CD), nobody joined it: missing.
    assert table_rows(document, "STT", "Đoàn cơ sở") == [
        ["1", "Đoàn Trường Cao đẳng Kiên Giang", "", "", "Chưa đăng ký"]
    ]


async def test_the_units_reviewed_directly_are_read_in_chunks_as_the_status_reads_them(settings, db, people):
    """The documents read only the units the reviewing unit reviews directly (never its
    districts' subtrees), a chunk per transaction, each as the reviewing level's status has it."""
    from datetime import date

    from chidoan.documents.gather import read_reviewed, scope_of
    from chidoan.programmes.loader import programmes
    from chidoan.review.status import status_of

    await submit_plans(settings)
    programme = programmes(settings)[PROGRAMME]
    today = date(2026, 11, 20)
    transactions = []

    async def read(work):
        transactions.append(work)
        with unit_of_work(db) as uow:
            return work(uow)

    def fields(u):
        return (u.unit_id, u.registration, u.registration_id, u.version, u.first_submitted_at, u.on_time, u.due)

    for code, expected in (("RG", ["RG-AH", "RG-TH", "RG-VB"]), ("KG", ["KG-CD"])):
        with unit_of_work(db) as uow:
            reviewer = uow.units.by_code(code)
            scope = scope_of(uow, reviewer, settings)
            status = status_of(uow, reviewer, programme, 2027, today=today, settings=settings)
        wanted = [fields(u) for u in status.units if u.reviewer_id == reviewer.id]
        for limit in (1, 2, 400):
            transactions.clear()
            units = await read_reviewed(read, scope, programme, 2027, today, limit=limit)
            assert sorted(u.code for u in units) == expected
            assert [fields(u) for u in units] == wanted
            assert len(transactions) == len(units) // limit + 1  # a chunk per transaction
    with unit_of_work(db) as uow:
        kg = scope_of(uow, uow.units.by_code("KG"), settings)
        paths = {uow.units.by_code(c).path for c in ("RG", "CT")}
    assert set(kg.below) == paths  # the province's documents skip its districts' subtrees
