"""The status of the units below a reviewing unit (chidoan/review/status.py, /trangthai for
staff): every state of the registration column, the start rule and moved deadlines, merged
units, meetings of a base unit's branches, dialogues and open commitments, totals and rates
checked against the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from chidoan.bot.app import App
from chidoan.programmes.loader import programmes
from chidoan.reminders.obligations import Calendar
from chidoan.review.status import REGISTRATION_STATES, assemble, count_units, groups_of, status_chunk, status_of
from chidoan.storage.db import upgrade
from chidoan.storage.models import (
    Commitment,
    CompiledReport,
    DeadlineChange,
    Document,
    Registration,
    RegistrationStatus,
    Report,
    RoleAssignment,
    table,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, document_bytes, seed_org
from tests.test_registration import clock_at, register

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROGRAMME = "three_proactives_2023_2027"
TODAY = date(2026, 11, 20)


def at(*local: int) -> datetime:
    return datetime(*local, tzinfo=TZ).astimezone(UTC)


# What each base unit added under Thành đoàn Rạch Giá (RG) is made to be, for plan year 2027
# (due before 15/10/2026): (registration status, version, on time, result), the day its secretary
# was bound (None: nobody), and the state status_of must find.
UNDER_RG = {
    "RG-LATE": (("submitted", 1, False, None), (2026, 9, 1), "submitted_late"),
    "RG-DRAFT": (("draft", 0, None, None), (2026, 9, 1), "draft"),
    "RG-MISS": (None, (2026, 9, 1), "missing"),
    "RG-NEW": (None, (2026, 11, 1), "not_required"),  # joined after the deadline
    "RG-NOONE": (None, None, "not_required"),  # nobody has joined (no CHIDOAN_OBLIGATIONS_FROM)
    "RG-RET": (("returned", 1, True, None), (2026, 9, 1), "returned"),
    "RG-ACC": (("reviewed", 2, True, None), (2026, 9, 1), "accepted"),
    "RG-PASS": (("reviewed", 1, True, "passed"), (2026, 9, 1), "passed"),
    "RG-FAIL": (("reviewed", 1, False, "not_passed"), (2026, 9, 1), "not_passed"),
}


def build(engine) -> dict[str, int]:
    """The seeded tree (tests/conftest.py) with more base units under RG, each in one state,
    their roles, registrations, reports and commitments inserted directly."""
    units = seed_org(engine)
    ids = {code: u.id for code, u in units.items()}
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        writer = uow.accounts.create_with_identity(
            channel="web", external_id="w", chat_id="w", display_name="W", locale="vi", now=now, full_name="W"
        ).account_id
        rg = uow.units.one(ids["RG"])
        for code in [*UNDER_RG, "RG-OLD", "RG-GONE"]:
            ids[code] = uow.units.add(
                code=code, name=f"Đoàn {code}", kind="base_unit", parent=rg, reviews=False, now=now
            ).id
        uow.units.update(ids["RG-OLD"], closed_on=date(2026, 11, 1), merged_into=ids["RG-VB"])  # open on 15/10
        uow.units.update(ids["RG-GONE"], closed_on=date(2026, 7, 1), merged_into=ids["RG-VB"])  # closed before

        def bind(code: str, day: tuple[int, int, int], role: str = "secretary", revoked: bool = False) -> None:
            uow.conn.execute(
                table(RoleAssignment)
                .insert()
                .values(
                    account_id=writer,
                    unit_id=ids[code],
                    role=role,
                    granted_at=at(*day, 9),
                    revoked_at=now if revoked else None,
                )
            )

        def register(code: str, status: str, version: int, on_time: bool | None, result: str | None) -> int:
            return uow.conn.execute(
                table(Registration)
                .insert()
                .values(
                    unit_id=ids[code],
                    programme=PROGRAMME,
                    year=2027,
                    status=status,
                    version=version,
                    on_time=on_time,
                    result=result,
                    first_submitted_at=at(2026, 10, 10, 9) if version else None,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]

        register("RG-VB", "submitted", 1, True, None)
        bind("RG-VB", (2026, 3, 1))
        bind("RG-VB", (2025, 1, 1), "deputy", revoked=True)  # the start: the first one bound, revoked or not
        for code, (registration, bound, _state) in UNDER_RG.items():
            if registration:
                register(code, *registration)
            if bound:
                bind(code, bound)
        bind("RG-OLD", (2026, 1, 1))
        # Châu Thành moved its plan deadline to 25/10; Minh Lương's secretary joined on 18/10.
        bind("CT-ML", (2026, 10, 18))
        uow.conn.execute(
            table(DeadlineChange)
            .insert()
            .values(
                reviewer_id=ids["CT"],
                obligation="plan",
                programme=PROGRAMME,
                year=2027,
                due_on=date(2026, 10, 25),
                changed_by=writer,
                changed_at=now,
            )
        )
        bind("KG-CD", (2026, 11, 1))  # joined after the deadline: not required

        def report(code: str, kind: str, held_on: date, status: str = "submitted") -> int:
            report_id = uow.reports.add(
                unit_id=ids[code], kind=kind, held_on=held_on, data={}, account_id=writer, now=now
            )
            if status != "submitted":
                uow.conn.execute(table(Report).update().where(table(Report).c.id == report_id).values(status=status))
            return report_id

        report("RG-VB-KP1", "meeting", date(2026, 11, 5))  # a branch's meeting counts for its base unit
        report("RG-VB-KP1", "meeting", date(2026, 2, 5))
        report("RG-VB", "meeting", date(2026, 3, 5))
        report("RG-VB-KP1", "meeting", date(2026, 11, 6), status="withdrawn")
        report("RG-VB-KP1", "meeting", date(2025, 11, 5))  # last year
        dialogue = report("RG-VB", "dialogue", date(2026, 6, 1))
        withdrawn = report("RG-LATE", "dialogue", date(2026, 6, 1), status="withdrawn")
        report("CT-ML", "dialogue", date(2026, 8, 1))

        def promise(report_id: int, code: str, status: str) -> None:
            uow.conn.execute(
                table(Commitment)
                .insert()
                .values(
                    report_id=report_id,
                    unit_id=ids[code],
                    promise="Sửa đèn đường",
                    promised_by="Chủ tịch UBND",
                    due_on=date(2026, 9, 1),
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )

        promise(dialogue, "RG-VB", "open")
        promise(dialogue, "RG-VB", "open")
        promise(dialogue, "RG-VB", "done")
        promise(withdrawn, "RG-LATE", "open")  # of a withdrawn report: not owed
    return ids


def status(engine, settings, code: str, year: int = 2027, today: date = TODAY):
    programme = programmes(settings)[PROGRAMME]
    with unit_of_work(engine) as uow:
        return status_of(uow, uow.units.by_code(code), programme, year, today=today, settings=settings)


def check_states_and_totals(engine, settings) -> None:
    ids = build(engine)
    district = status(engine, settings, "RG")
    by_code = {u.code: u for u in district.units}
    assert [u.code for u in district.units] == sorted(by_code, key=lambda c: by_code[c].path)
    assert "RG-GONE" not in by_code and "RG-OLD" in by_code  # closed before / after the deadline
    assert "RG-VB-KP1" not in by_code  # branches do not register
    expected = {code: state for code, (_r, _b, state) in UNDER_RG.items()} | {
        "RG-VB": "submitted_on_time",
        "RG-OLD": "missing",
    }
    assert {code: u.registration for code, u in by_code.items()} == expected
    assert set(expected.values()) == set(REGISTRATION_STATES)  # every state of the column is built

    vb = by_code["RG-VB"]
    assert (vb.meetings_month, vb.meetings_year, vb.dialogues_year, vb.open_commitments) == (1, 3, 1, 2)
    assert vb.meetings_expected == 10  # January to October are due by 20/11 (before 6/11 for October)
    assert vb.start == date(2025, 1, 1) and vb.has_secretary and vb.reviewer_id == ids["RG"]
    assert vb.due == date(2026, 10, 15) and vb.registration_id is not None and vb.version == 1
    assert by_code["RG-LATE"].open_commitments == 0 and by_code["RG-LATE"].dialogues_year == 0
    assert not by_code["RG-NOONE"].has_secretary
    assert by_code["RG-MISS"].overdue and by_code["RG-DRAFT"].overdue and not by_code["RG-NEW"].overdue

    t = district.totals
    assert (t.units, t.expected, t.not_required) == (11, 9, 2)
    assert (t.submitted, t.on_time, t.late) == (6, 4, 2)  # VB, RET, ACC, PASS on time; LATE, FAIL late
    assert (t.missing, t.draft, t.overdue) == (3, 1, 3)
    assert (t.returned, t.accepted, t.passed, t.not_passed) == (1, 1, 1, 1)
    assert t.reporting_rate == pytest.approx(6 / 9) and t.on_time_rate == pytest.approx(4 / 9)
    assert (t.meetings_year, t.meetings_expected, t.meetings_credited) == (3, 110, 3)
    assert (t.dialogue_units, t.dialogue_rate) == (1, pytest.approx(1 / 11))
    assert t.open_commitments == 2

    # Against the database: what was submitted for 2027 in RG's subtree, and the meetings of the year.
    reg, rep = table(Registration), table(Report)
    with engine.connect() as conn:
        submitted = conn.execute(
            select(func.count()).where(
                reg.c.year == 2027, reg.c.version > 0, reg.c.unit_id.in_([u.unit_id for u in district.units])
            )
        ).scalar_one()
        meetings = conn.execute(
            select(func.count()).where(
                rep.c.kind == "meeting", rep.c.status != "withdrawn", rep.c.held_on >= date(2026, 1, 1)
            )
        ).scalar_one()
    assert submitted == t.submitted and meetings == t.meetings_year

    # The province: Minh Lương follows Châu Thành's moved deadline (25/10): it joined on 18/10, so it owes the plan.
    province = status(engine, settings, "KG")
    ml = next(u for u in province.units if u.code == "CT-ML")
    assert ml.due == date(2026, 10, 25) and ml.registration == "missing" and ml.dialogues_year == 1
    cd = next(u for u in province.units if u.code == "KG-CD")
    assert cd.registration == "not_required" and cd.reviewer_id == ids["KG"]
    groups = groups_of(province)
    assert [g.reviewer_id for g in groups] == [ids["KG"], ids["RG"], ids["CT"]]  # the province's own first
    assert groups[1].totals == t and sum(g.totals.units for g in groups) == province.totals.units == 13

    # Read in chunks (a province's way, each chunk its own transaction), the same units in the same order.
    programme = programmes(settings)[PROGRAMME]
    units, after = [], ""
    with unit_of_work(engine) as uow:
        root, cal = uow.units.by_code("KG"), Calendar.load(uow, settings)
        assert count_units(uow, root, programme) == 14  # RG-GONE and RG-OLD (closed) among them
        while after is not None:
            chunk, after = status_chunk(uow, root, programme, 2027, today=TODAY, cal=cal, after=after, limit=4)
            assert len(chunk) <= 4
            units += chunk
    assert assemble(root, programme, 2027, units, today=TODAY) == province

    # An earlier year reads as it was: 2025's plan (none registered), the meetings of 2025.
    earlier = status(engine, settings, "RG", year=2025)
    assert {u.code for u in earlier.units} >= {"RG-OLD", "RG-GONE"}  # both open on 15/10/2024
    vb = next(u for u in earlier.units if u.code == "RG-VB")
    assert (vb.meetings_year, vb.meetings_month, vb.meetings_expected, vb.dialogues_year) == (1, 0, 12, 0)


def test_status_of_every_state(db, settings):
    check_states_and_totals(db, settings)


def roundtrip_0017(engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from chidoan.storage.db import alembic_config

    names = {"ix_org_unit_kind_path", "ix_org_unit_path_bytes"}
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    assert not names & {i["name"] for i in inspect(engine).get_indexes("org_unit")}
    upgrade(engine)
    assert names <= {i["name"] for i in inspect(engine).get_indexes("org_unit")}
    assert "ix_report_unit_held" in {i["name"] for i in inspect(engine).get_indexes("report")}


def test_migration_0017_goes_down_and_up(db):
    roundtrip_0017(db)


# ---- /trangthai end to end -------------------------------------------------------------------


NOON = (2026, 11, 20, 9, 0)  # local time of the staff's questions


async def started(settings, *local) -> App:
    app = App(settings, clock=clock_at(*local))
    await app.start()
    return app


async def journey_plan(settings, db, code: str) -> None:
    """A base unit added under RG whose secretary submits the 2027 plan through the journey on
    10/10/2026 (on time)."""
    with unit_of_work(db) as uow:
        rg = uow.units.by_code("RG")
        uow.units.add(
            code=code, name="Đoàn xã Phi Thông", kind="base_unit", parent=rg, reviews=False, now=datetime.now(UTC)
        )
    add_member(db, "jsec", "Lê Văn Cường", code, "secretary", locale="en")
    app = await started(settings, 2026, 10, 10, 9, 0)
    try:
        async with WebUser(app, "jsec") as secretary:
            await register(secretary)
            assert "on time" in secretary.text
    finally:
        await app.stop()


def header_numbers(text: str) -> tuple[int, int, int]:
    """(sent, expected, on time) from "Đã gửi kế hoạch: 7/10 đơn vị (70%) · đúng hạn 5/10 (50%)"."""
    import re

    found = re.search(r"Đã gửi kế hoạch: (\d+)/(\d+) đơn vị \(\d+%\) · đúng hạn (\d+)/\d+", text)
    assert found, text
    return int(found[1]), int(found[2]), int(found[3])


async def test_district_staff_see_every_state_totals_and_a_chart_in_the_web_chat(settings, db):
    ids = build(db)
    await journey_plan(settings, db, "RG-PT")
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "rg") as staff:
            replies = await staff.say("/trangthai")
            await app.jobs.settled()
            replies += await staff.replies()
    finally:
        await app.stop()
    text, picture = replies[0]["text"], replies[-1]
    assert text.startswith("📊 Thành đoàn Rạch Giá: “3 chủ động” năm 2027 (hạn đăng ký trước 15/10/2026)")
    # Against the database: the submitted plans of RG's registering units, and those on time.
    reg = table(Registration)
    with db.connect() as conn:
        rows = list(conn.execute(select(reg).where(reg.c.year == 2027, reg.c.version > 0)))
    in_rg = [r for r in rows if r.unit_id not in (ids["CT-ML"], ids["KG-CD"])]
    assert header_numbers(text) == (len(in_rg), 10, sum(bool(r.on_time) for r in in_rg)) == (7, 10, 5)
    assert "(70%)" in text and "(50%)" in text
    lines = {line.split(" ", 1)[0]: line for line in text.splitlines() if "(RG-" in line}
    assert "✅ Đoàn xã Phi Thông (RG-PT) · SH 0/0 · ĐT 0 · CK 0" in text  # submitted through the journey
    assert "✅ Đoàn phường Vĩnh Bảo (RG-VB) · SH 1/3 · ĐT 1 · CK 2" in text
    for emoji, code in [
        ("🕓", "RG-LATE"),
        ("❌", "RG-DRAFT"),
        ("❌", "RG-MISS"),
        ("⚪", "RG-NEW"),
        ("⚪", "RG-NOONE"),
        ("↩️", "RG-RET"),
        ("☑️", "RG-ACC"),
        ("🏅", "RG-PASS"),
        ("⛔", "RG-FAIL"),
    ]:
        assert any(line.startswith(emoji) and f"({code})" in line for line in text.splitlines()), (emoji, code)
    assert "RG-GONE" not in text and "CT-ML" not in text and lines  # merged before the deadline; another district
    assert "chưa có Bí thư" in next(line for line in text.splitlines() if "(RG-NOONE)" in line)
    assert picture["text"] == "Biểu đồ: Thành đoàn Rạch Giá: kế hoạch năm 2027"
    assert picture["file"]["media"] == "photo" and picture["file"]["filename"] == "trangthai.png"
    with db.connect() as conn:
        chart = conn.execute(select(table(Document).c.id).where(table(Document).c.kind == "status_chart")).scalar_one()
    png = document_bytes(db, chart)
    assert png.startswith(b"\x89PNG")


async def test_filters_late_not_sent_and_a_unit_by_name_without_accents(settings, db):
    build(db)
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "rg") as staff:
            late = (await staff.say("/trangthai tre"))[0]["text"]
            not_sent = (await staff.say("/trangthai chua"))[0]["text"]
            one = (await staff.say("/trangthai vinh bao"))[0]["text"]
            none = (await staff.say("/trangthai khong co"))[0]["text"]
            outside = (await staff.say("/trangthai CT-ML"))[0]["text"]
    finally:
        await app.stop()
    listed = lambda text: sorted(c for c in UNDER_RG | {"RG-VB": 0, "RG-OLD": 0} if f"({c})" in text)  # noqa: E731
    assert "Đơn vị trễ hạn" in late and listed(late) == ["RG-DRAFT", "RG-LATE", "RG-MISS", "RG-OLD"]
    assert "chưa gửi kế hoạch" in not_sent and listed(not_sent) == ["RG-DRAFT", "RG-MISS", "RG-OLD"]
    assert listed(one) == ["RG-VB"] and "Đã gửi kế hoạch: 1/1" in one
    assert none == "Không có đơn vị nào trong phạm vi đồng chí phụ trách khớp với “khong co”."
    assert outside.startswith("Không có đơn vị nào")  # another district's unit is not in reach


async def test_pages_of_twenty_and_a_forged_button_refused(settings, db, org):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        ct = uow.units.by_code("CT")
        for i in range(25):
            uow.units.add(
                code=f"CT-{i:02d}", name=f"Đoàn xã Số {i:02d}", kind="base_unit", parent=ct, reviews=False, now=now
            )
    add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "ct") as staff:
            first = await staff.say("/trangthai")
            await app.jobs.settled()  # the chart comes after the text, in its own time
            first += await staff.replies()
            staff.last = first
            second = await staff.press("Trang sau")
            back = await staff.press("Trang trước")
            await app.jobs.settled()  # the first page's chart again, before the next question
            back += await staff.replies()
            forged = await staff.send_frame({"type": "button", "payload": f"st:{org['RG'].id}:all:0:2027"})
            garbage = await staff.send_frame({"type": "button", "payload": "st:1²:all:0:2027"})
            too_far = await staff.send_frame({"type": "button", "payload": f"st:{org['CT'].id}:all:9:2027"})
    finally:
        await app.stop()
    count = lambda message: sum(" · SH " in line for line in message["text"].splitlines())  # noqa: E731
    assert "trang 1/2" in first[0]["text"] and count(first[0]) == 20
    assert "trang 2/2" in second[0]["text"] and count(second[0]) == 6  # 25 + Minh Lương
    assert [b["label"] for row in second[0]["buttons"] for b in row] == ["◀ Trang trước"]
    assert back[0]["text"] == first[0]["text"]
    assert forged[0]["text"] == "Đơn vị này không thuộc phạm vi đồng chí phụ trách."
    assert garbage[0]["text"] == "Nút này không còn dùng được nữa."
    assert "trang 2/2" in too_far[0]["text"]  # a page past the end shows the last one
    assert all(len(m["text"]) <= 4000 for m in (*first, *second))


async def test_a_province_with_districts_rolls_up_and_drills_down(settings, db):
    ids = build(db)
    add_member(db, "kg", "Huỳnh Thị Mai", "KG", "district_staff")
    with unit_of_work(db) as uow:
        document = uow.documents.add(kind="compiled_report", filename="bc.docx", content=b"x", now=datetime.now(UTC))
        uow.conn.execute(
            table(CompiledReport)
            .insert()
            .values(
                unit_id=ids["RG"],
                programme=PROGRAMME,
                year=2027,
                document_id=document,
                sent_by=1,
                sent_at=at(2026, 10, 24, 9),
                on_time=True,
            )
        )
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "kg") as staff:
            replies = await staff.say("/trangthai")
            await app.jobs.settled()
            replies += await staff.replies()
            staff.last = replies  # the buttons are on the text, before the chart
            district = await staff.press("Thành đoàn Rạch Giá")
            staff.last = replies
            direct = await staff.press("Trực thuộc")
    finally:
        await app.stop()
    text = replies[0]["text"]
    assert "Theo Đoàn cấp trên trực tiếp cơ sở" in text
    assert "• Trực thuộc Tỉnh đoàn Kiên Giang: kế hoạch 0/0" in text
    assert (
        "• Thành đoàn Rạch Giá: kế hoạch 6/9 (67%), đúng hạn 44% · đối thoại 9% · đã gửi báo cáo tổng hợp (đúng hạn)"
        in text
    )
    assert "• Huyện đoàn Châu Thành: kế hoạch 0/1 (0%)" in text and "chưa gửi báo cáo tổng hợp (hạn 25/10/2026)" in text
    assert header_numbers(text) == (6, 10, 4)
    assert replies[-1]["file"]["media"] == "photo"
    assert "(RG-VB)" in district[0]["text"] and "Thành đoàn Rạch Giá" in district[0]["text"].splitlines()[0]
    assert "(KG-CD)" in direct[0]["text"] and "(RG-VB)" not in direct[0]["text"]


async def test_a_province_without_a_district_level_lists_its_communes(settings, db):
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        province = uow.units.add(
            code="AG", name="Tỉnh đoàn An Giang", kind="province", parent=None, reviews=True, now=now
        )
        for i in range(3):
            uow.units.add(
                code=f"AG-{i}", name=f"Đoàn xã Mỹ {i}", kind="base_unit", parent=province, reviews=False, now=now
            )
    add_member(db, "ag", "Lâm Văn Hai", "AG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "ag") as staff:
            text = (await staff.say("/trangthai"))[0]["text"]
    finally:
        await app.stop()
    assert "Theo Đoàn cấp trên" not in text and "Các đơn vị, trang 1/1:" in text
    assert all(f"(AG-{i})" in text for i in range(3))


async def test_a_secretary_gets_their_own_view_and_someone_without_a_role_is_refused(settings, db):
    build(db)
    with unit_of_work(db) as uow:
        registration = uow.registrations.find(uow.units.by_code("RG-RET").id, PROGRAMME, 2027)
        assert registration.status == RegistrationStatus.returned
    add_member(db, "ret", "Phan Thị Nga", "RG-RET", "secretary")
    add_member(db, "both", "Đỗ Văn Hùng", "RG-PASS", "secretary")
    add_member(db, "gone", "Người cũ", "RG-MISS", "secretary")  # then replaced: an account without a role
    with unit_of_work(db) as uow:
        gone = uow.accounts.sender("web", "gone").account_id
        uow.conn.execute(
            table(RoleAssignment)
            .update()
            .where(table(RoleAssignment).c.account_id == gone)
            .values(revoked_at=datetime.now(UTC))
        )
    with unit_of_work(db) as uow:
        both = uow.accounts.sender("web", "both").account_id
        uow.roles.grant(
            account_id=both,
            unit_id=uow.units.by_code("CT").id,
            role="district_staff",
            invite_id=None,
            now=datetime.now(UTC),
        )
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "ret") as secretary:
            own = await secretary.say("/trangthai")
            forged = await secretary.send_frame({"type": "button", "payload": f"st:{build_root(db, 'RG')}:all:0:2027"})
        async with WebUser(app, "both") as person:
            two = await person.say("/trangthai")
        async with WebUser(app, "nobody") as stranger:
            refused = await stranger.say("/trangthai")
        async with WebUser(app, "gone") as former:
            no_role = await former.say("/trangthai")
    finally:
        await app.stop()
    assert len(own) == 1 and own[0]["text"].startswith("Các việc Đoàn RG-RET cần thực hiện:")
    assert own[0]["text"].endswith("đã được trả lại để sửa: gõ /dangky để sửa.")
    assert forged[0]["text"] == "Đơn vị này không thuộc phạm vi đồng chí phụ trách."
    assert "được đánh giá đạt" in two[0]["text"] and two[1]["text"].startswith("📊 Huyện đoàn Châu Thành")
    assert len(refused) == 1 and refused[0]["text"].startswith(
        "Đồng chí chưa đăng ký."
    )  # the engine's answer to a stranger
    assert no_role == refused and not [m for m in no_role if "📊" in m["text"]]  # a replaced secretary: no role left


def build_root(db, code: str) -> int:
    with unit_of_work(db) as uow:
        return uow.units.by_code(code).id


async def test_through_telegram_the_chart_arrives_as_a_photo(settings, db, tg):
    from tests.test_telegram import TgUser, tg_settings

    build(db)
    add_member(db, "9001", "Trần Thị Bình", "RG", "district_staff", channel="telegram")
    app = App(tg_settings(settings, tg), clock=clock_at(*NOON))
    await app.start()
    try:
        staff = TgUser(tg, db, 9001, language="vi")
        replies = await staff.say("/trangthai")
        await app.jobs.settled()
        await tg.wait_for(lambda calls: any(c.method == "sendPhoto" and c.status == 200 for c in calls))
        page = await staff.say("/trangthai tre")
    finally:
        await app.stop()
    assert replies[0].params["text"].startswith("📊 Thành đoàn Rạch Giá")
    [photo] = [c for c in tg.calls_of("sendPhoto") if c.status == 200]
    assert (
        str(photo.params["chat_id"]) == "9001"
        and photo.params["caption"] == "Biểu đồ: Thành đoàn Rạch Giá: kế hoạch năm 2027"
    )
    assert not tg.calls_of("sendDocument")
    assert "Đơn vị trễ hạn" in page[0].params["text"] and len(tg.calls_of("sendPhoto")) == 1  # a filter sends no chart


async def test_no_chart_on_zalo_bot_which_cannot_carry_a_picture(settings, db):
    from chidoan.engine.messages import Incoming
    from chidoan.storage.models import Job

    build(db)
    add_member(db, "zb1", "Trần Thị Bình", "RG", "district_staff", channel="zalo_bot")
    add_member(db, "w1", "Võ Văn Ba", "RG", "district_staff")
    app = await started(settings, *NOON)
    try:
        await app.processor.submit(Incoming("zalo_bot", "e1", "zb1", "zb1", text="/trangthai"))
        await app.processor.submit(Incoming("web", "e2", "w1", "w1", text="/trangthai"))
        await app.jobs.settled()
    finally:
        await app.stop()
    with db.connect() as conn:
        jobs = list(conn.execute(select(table(Job))))
    assert [(j.kind, j.channel) for j in jobs] == [("status_chart", "web")]


async def test_a_large_subtree_is_answered_by_a_job_reading_it_in_chunks(settings, db, monkeypatch):
    import chidoan.handlers.status as handler

    build(db)
    add_member(db, "kg", "Huỳnh Thị Mai", "KG", "district_staff")
    app = await started(settings, *NOON)
    try:
        async with WebUser(app, "kg") as staff:
            inline = await staff.say("/trangthai")
            await app.jobs.settled()
            inline += await staff.replies()
            monkeypatch.setattr(handler, "CHUNK", 4)  # KG's 14 registering units are "large" now
            deferred = await staff.say("/trangthai")
            await app.jobs.settled()
            deferred += await staff.replies()
    finally:
        await app.stop()
    assert deferred[0]["text"] == "Tỉnh đoàn Kiên Giang: đang tổng hợp tình hình 14 đơn vị…"
    assert deferred[1]["text"] == inline[0]["text"] and deferred[1]["buttons"] == inline[0]["buttons"]
    assert deferred[2]["file"]["media"] == "photo"
