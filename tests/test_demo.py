from __future__ import annotations

from datetime import timedelta
from importlib.resources import files

from sqlalchemy import func, select

import chidoan.bot.demo as demo
from chidoan.bot.app import App
from chidoan.bot.channels.web import read_people
from chidoan.bot.demo import BACKGROUND_PEOPLE, DEMO_PEOPLE, load_demo
from chidoan.bot.orgimport import read_rows
from chidoan.storage.clock import utcnow
from chidoan.storage.models import (
    Account,
    ChannelIdentity,
    Commitment,
    Document,
    Invite,
    Registration,
    RegistrationVersion,
    Report,
    Role,
    RoleAssignment,
    UnitKind,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser
from tests.test_registration import clock_at


def counts(db) -> dict[str, int]:
    with unit_of_work(db) as uow:
        return {
            table.__tablename__: uow.conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()
            for table in (
                Account,
                ChannelIdentity,
                RoleAssignment,
                Invite,
                Registration,
                RegistrationVersion,
                Document,
                Report,
                Commitment,
            )
        } | {"org_unit": uow.units.count()}


def test_demo_tree_is_realistic():
    lines = read_rows(files("chidoan").joinpath("demo", "org.csv"))
    codes = {line.code for line in lines}
    assert {"KG", "RG", "CT", "RG-VB", "RG-VB-KP1", "RG-PT"} <= codes
    assert all(code == code.upper() and code.isascii() and " " not in code for code in codes)
    assert len(codes) == len(lines)


def test_demo_loads_with_roles(db, settings):
    info = load_demo(db, settings)

    with unit_of_work(db) as uow:
        stored = uow.units.codes()
        kinds = {row.kind for row in stored.values()}
        assert kinds == set(UnitKind)
        college = next(row for row in stored.values() if row.name == "Đoàn Trường Cao đẳng Kiên Giang")
        assert college.parent_id == stored["KG"].id
        assert uow.units.reviewer(college).code == "KG"
        assert uow.units.reviewer(stored["RG-VB-KP1"]).code == "RG"
        for district in ("RG", "CT"):
            bases = [r for r in stored.values() if r.parent_id == stored[district].id]
            assert 2 <= len(bases) <= 3 and all(r.kind == UnitKind.base_unit for r in bases)

        roles = {}
        for person in DEMO_PEOPLE:
            sender = uow.accounts.sender("web", f"demo-{person.slug}")
            assert (
                sender is not None and sender.full_name == person.full_name and sender.chat_id == f"demo-{person.slug}"
            )
            roles[person.slug] = [(r.role, r.code) for r in uow.roles.active_of(sender.account_id)]
        assert uow.accounts.sender("web", "demo-new") is None

    assert roles == {
        "binh": [(Role.district_staff, "RG")],
        "cuong": [(Role.secretary, "RG-VB")],
        "dung": [(Role.secretary, "RG-VB-KP1")],
        "an": [],
    }
    by_id = {identity.external_id: identity for identity in info.identities}
    assert list(by_id) == ["demo-binh", "demo-cuong", "demo-dung", "demo-an", "demo-new"]
    assert by_id["demo-binh"].description == "Cán bộ — Thành đoàn Rạch Giá"  # named by the union, no district level
    assert by_id["demo-cuong"].full_name == "Lê Văn Cường"
    assert f"mã mời: {info.invite_code}" in by_id["demo-an"].description
    assert by_id["demo-an"].description.startswith("Chưa đăng ký")
    assert info.descriptions["demo-dung"] == "Bí thư — Chi đoàn Khu phố 1, Đoàn phường Vĩnh Bảo"


def test_an_invite_works(db, settings):
    info = load_demo(db, settings)
    with unit_of_work(db) as uow:
        invite = uow.invites.by_code(info.invite_code)
        binh = uow.accounts.sender("web", "demo-binh")
        an = uow.accounts.sender("web", "demo-an")
        unit = uow.units.get(invite.unit_id)
        assert invite.role == Role.secretary
        assert unit.kind == UnitKind.base_unit
        assert uow.units.reviewer(unit).code == "RG"  # Bình's district may issue it
        assert invite.issued_by == binh.account_id
        assert invite.used_at is None
        assert invite.expires_at - invite.created_at == timedelta(days=settings.invite_days)
        assert uow.invites.consume(invite.id, an.account_id, utcnow())


def test_demo_loads_twice_without_duplicates(db, settings):
    first = load_demo(db, settings)
    before = counts(db)
    second = load_demo(db, settings)

    assert second == first
    assert counts(db) == before
    assert before["channel_identity"] == len(DEMO_PEOPLE)  # the background people have none
    assert before["account"] == len(DEMO_PEOPLE) + len(BACKGROUND_PEOPLE)
    assert before["role_assignment"] == 3 + len(BACKGROUND_PEOPLE) and before["invite"] == 1


def test_used_or_expired_invite_is_replaced(db, settings, monkeypatch):
    first = load_demo(db, settings)
    with unit_of_work(db) as uow:
        invite = uow.invites.by_code(first.invite_code)
        an = uow.accounts.sender("web", "demo-an")
        assert uow.invites.consume(invite.id, an.account_id, utcnow())

    second = load_demo(db, settings)
    assert second.invite_code != first.invite_code
    with unit_of_work(db) as uow:
        fresh = uow.invites.by_code(second.invite_code)
        assert fresh.used_at is None and fresh.unit_id == invite.unit_id

    later = utcnow() + timedelta(days=settings.invite_days + 1)
    monkeypatch.setattr(demo, "utcnow", lambda: later)
    third = load_demo(db, settings)
    assert third.invite_code not in (first.invite_code, second.invite_code)
    with unit_of_work(db) as uow:
        assert uow.invites.by_code(third.invite_code).expires_at > later
    assert counts(db)["account"] == len(DEMO_PEOPLE) + len(BACKGROUND_PEOPLE)


async def test_a_district_sees_a_living_district_in_the_web_chat(db, settings, monkeypatch):
    """Loaded on 20/11/2026 (plan year 2027, due before 15/10/2026): Vĩnh Thanh Vân's plan came on
    time, Phi Thông's late, Vĩnh Bảo's is missing (Cường can still try /dangky); loading again,
    even later, adds nothing."""
    moment = clock_at(2026, 11, 20, 9, 0)
    monkeypatch.setattr(demo, "utcnow", moment)
    load_demo(db, settings)
    before = counts(db)
    assert before["registration"] == before["registration_version"] == 2
    assert before["report"] == 3 and before["commitment"] == 1
    monkeypatch.setattr(demo, "utcnow", lambda: moment() + timedelta(days=40))
    load_demo(db, settings)
    # A month later (another month's meetings are due by then): still the same data; only the
    # invite code, expired by then, is replaced (test_used_or_expired_invite_is_replaced).
    assert counts(db) == before | {"invite": 2}

    with unit_of_work(db) as uow:
        cuong = uow.accounts.sender("web", "demo-cuong")
        [role] = uow.roles.active_of(cuong.account_id)
        assert role.granted_at.astimezone(settings.tz).date().isoformat() == "2026-09-01"
        vtv = uow.registrations.find(uow.units.by_code("RG-VTV").id, "three_proactives_2023_2027", 2027)
        document = uow.documents.one(uow.registrations.version(vtv.id, 1).document_id)
        assert (
            document.filename.endswith(".docx") and uow.documents.content(document)[:2] == b"PK"
        )  # made by render_plan
        assert uow.registrations.of_unit(uow.units.by_code("RG-VB").id) == []
        # The web page's picker still offers the demo people only.
        assert [p["id"] for p in read_people(uow, {})] == [f"demo-{p.slug}" for p in DEMO_PEOPLE]

    app = App(settings, clock=clock_at(2026, 11, 20, 9, 5))
    await app.start()
    try:
        async with WebUser(app, "demo-binh") as staff:
            replies = await staff.say("/trangthai")
            await app.jobs.settled()
            replies += await staff.replies()
        async with WebUser(app, "demo-cuong") as secretary:
            await secretary.say("/trangthai")
            own = secretary.text
    finally:
        await app.stop()
    text = replies[0]["text"]
    assert text.startswith("📊 Thành đoàn Rạch Giá: “3 chủ động” năm 2027 (hạn đăng ký trước 15/10/2026)")
    lines = {code: line for line in text.splitlines() for code in ("RG-VTV", "RG-PT", "RG-VB") if f"({code})" in line}
    assert lines["RG-VTV"].startswith("✅") and "ĐT 1 · CK 1" in lines["RG-VTV"]
    assert lines["RG-PT"].startswith("🕓")
    assert lines["RG-VB"].startswith("❌")
    assert "chưa gửi, đã quá hạn" in own and "/dangky" in own
