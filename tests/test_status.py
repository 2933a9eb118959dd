"""The status of the units below a reviewing unit (chidoan/review/status.py, /trangthai for
staff): every state of the registration column, the start rule and moved deadlines, merged
units, meetings of a base unit's branches, dialogues and open commitments, totals and rates
checked against the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from chidoan.programmes.loader import programmes
from chidoan.review.status import REGISTRATION_STATES, groups_of, status_of
from chidoan.storage.db import make_engine, upgrade
from chidoan.storage.models import (
    Commitment,
    DeadlineChange,
    Registration,
    Report,
    RoleAssignment,
    table,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import make_settings, seed_org

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

    # An earlier year reads as it was: 2025's plan (none registered), the meetings of 2025.
    earlier = status(engine, settings, "RG", year=2025)
    assert {u.code for u in earlier.units} >= {"RG-OLD", "RG-GONE"}  # both open on 15/10/2024
    vb = next(u for u in earlier.units if u.code == "RG-VB")
    assert (vb.meetings_year, vb.meetings_month, vb.meetings_expected, vb.dialogues_year) == (1, 0, 12, 0)


def test_status_of_every_state_on_sqlite(db, settings):
    check_states_and_totals(db, settings)


@pytest.mark.postgres
def test_status_of_every_state_on_postgresql(pg_url):
    settings = make_settings(pg_url)
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        check_states_and_totals(engine, settings)
    finally:
        engine.dispose()


def roundtrip_0016(engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from chidoan.storage.db import alembic_config

    names = {"ix_org_unit_kind_path", "ix_org_unit_path_bytes"}
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    assert not names & {i["name"] for i in inspect(engine).get_indexes("org_unit")}
    upgrade(engine)
    assert names <= {i["name"] for i in inspect(engine).get_indexes("org_unit")}
    assert "ix_report_unit_held" in {i["name"] for i in inspect(engine).get_indexes("report")}


def test_migration_0016_goes_down_and_up_on_sqlite(db):
    roundtrip_0016(db)


@pytest.mark.postgres
def test_migration_0016_goes_down_and_up_on_postgresql(pg_url):
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        roundtrip_0016(engine)
    finally:
        engine.dispose()
