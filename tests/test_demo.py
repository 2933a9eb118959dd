from __future__ import annotations

from datetime import timedelta
from importlib.resources import files

from sqlalchemy import func, select

import chidoan.bot.demo as demo
from chidoan.bot.demo import DEMO_PEOPLE, load_demo
from chidoan.bot.orgimport import read_rows
from chidoan.storage.clock import utcnow
from chidoan.storage.models import Account, ChannelIdentity, Invite, Role, RoleAssignment, UnitKind
from chidoan.storage.uow import unit_of_work


def counts(db) -> dict[str, int]:
    with unit_of_work(db) as uow:
        return {
            table.__tablename__: uow.conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()
            for table in (Account, ChannelIdentity, RoleAssignment, Invite)
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
    assert by_id["demo-binh"].description == "Cán bộ Huyện đoàn — Thành đoàn Rạch Giá"
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
    assert before["account"] == before["channel_identity"] == len(DEMO_PEOPLE)
    assert before["role_assignment"] == 3 and before["invite"] == 1


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
    assert counts(db)["account"] == len(DEMO_PEOPLE)
