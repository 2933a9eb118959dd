"""Every Alembic revision goes up, down and up again on SQLite and on PostgreSQL, and a database
holding rows written at the first revision is upgraded to the newest with its rows intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, select

from chidoan.storage.db import alembic_config, make_db, upgrade
from chidoan.storage.models import InboundEvent, Outbox
from chidoan.storage.uow import unit_of_work
from tests.test_storage import migrator, schema_drift


@pytest.fixture
def empty_db(empty_database_url):
    engine = make_db(empty_database_url)
    yield engine
    engine.dispose()


def revisions() -> list[tuple[str, str]]:
    """(revision, the one before it or "base"), oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    steps = [(r.revision, r.down_revision or "base") for r in script.walk_revisions("base", "heads")]
    return list(reversed(steps))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_the_revisions_are_one_line(empty_db):
    """One head, each revision after the one before it: what the walk below relies on."""
    steps = revisions()
    assert steps[0][1] == "base" and len(steps) >= 19
    assert [before for _, before in steps[1:]] == [revision for revision, _ in steps[:-1]]


def test_every_revision_goes_up_down_and_up(empty_db):
    """Each revision upgraded, downgraded to the one before (which must leave the schema as that
    one made it) and upgraded again; at the newest the schema is the models'; down to nothing
    and up again."""
    to = migrator(empty_db)
    schema = {"base": set[str]()}
    for revision, before in revisions():
        to(revision)
        schema[revision] = tables(empty_db)
        to(before, command.downgrade)
        assert tables(empty_db) == schema[before], f"{revision} down to {before}"
        to(revision)
        assert tables(empty_db) == schema[revision], f"{revision} up again"
    assert schema_drift(empty_db) == []
    to("base", command.downgrade)
    assert tables(empty_db) == set()
    upgrade(empty_db)
    assert schema_drift(empty_db) == []


T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def seed_first_revision(engine: Engine) -> dict[str, int]:
    """Rows written as the first revision's schema had them (its tables as the database has them,
    ids from the database's own sequences): an org tree, a secretary on Telegram, her invite,
    an answered update, a reply waiting to be sent, a conversation half way."""
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:

        def add(table: str, **values) -> int:
            return conn.execute(t[table].insert().values(**values).returning(t[table].c.id)).scalar_one()

        province = add(
            "org_unit", code="KG", name="Tỉnh đoàn Kiên Giang", kind="province", path="", reviews=True, created_at=T0
        )
        conn.execute(t["org_unit"].update().where(t["org_unit"].c.id == province).values(path=f"/{province}/"))
        district = add(
            "org_unit",
            code="RG",
            name="Thành đoàn Rạch Giá",
            kind="district",
            parent_id=province,
            path=f"/{province}/",
            reviews=True,
            created_at=T0,
        )
        conn.execute(
            t["org_unit"].update().where(t["org_unit"].c.id == district).values(path=f"/{province}/{district}/")
        )
        account = add("account", full_name="Lê Văn Cường", position="Bí thư", locale="en", created_at=T0)
        add(
            "channel_identity",
            channel="telegram",
            external_id="4242",
            chat_id="4242",
            account_id=account,
            display_name="Cường",
            reachable=True,
            created_at=T0,
        )
        invite = add(
            "invite",
            code="ABCD2345",
            unit_id=district,
            role="district_staff",
            created_at=T0,
            expires_at=T0 + timedelta(days=14),
            used_at=T0 + timedelta(hours=1),
            used_by=account,
        )
        add(
            "role_assignment",
            account_id=account,
            unit_id=district,
            role="district_staff",
            invite_id=invite,
            granted_at=T0 + timedelta(hours=1),
        )
        add(
            "inbound_event",
            channel="telegram",
            event_id="tg:1001",
            account_id=account,
            kind="text",
            text="/toi",
            received_at=T0 + timedelta(hours=2),
        )
        add(
            "outbox",
            channel="telegram",
            chat_id="4242",
            account_id=account,
            body={"text": "Đồng chí là cán bộ Thành đoàn Rạch Giá."},
            status="pending",
            attempts=0,
            not_before=T0 + timedelta(hours=2),
            created_at=T0 + timedelta(hours=2),
        )
        add(
            "conversation",
            account_id=account,
            journey="onboarding",
            step="position",
            data={"full_name": "Lê Văn Cường"},
            status="active",
            version=3,
            created_at=T0,
            updated_at=T0 + timedelta(hours=1),
        )
        conn.execute(t["setting"].insert().values(key="chidoan.seeded", value="0001"))
    return {"province": province, "district": district, "account": account, "invite": invite}


def test_a_database_holding_rows_of_the_first_revision_upgrades_with_them(empty_db):
    """Rows written at 0001, then every migration to the newest: each row is read back through
    today's code as it was written (with the defaults the later revisions gave the columns they
    added), and the database takes new rows after them."""
    migrator(empty_db)("0001")
    ids = seed_first_revision(empty_db)
    upgrade(empty_db)
    assert schema_drift(empty_db) == []
    with unit_of_work(empty_db) as uow:
        district = uow.units.by_code("RG")
        assert (district.id, district.name, district.parent_id) == (
            ids["district"],
            "Thành đoàn Rạch Giá",
            ids["province"],
        )
        assert [u.code for u in uow.units.subtree(uow.units.by_code("KG"))] == ["KG", "RG"]
        sender = uow.accounts.sender("telegram", "4242")
        assert sender is not None and sender.account_id == ids["account"]
        account = uow.accounts.one(ids["account"])
        assert (account.full_name, account.locale) == ("Lê Văn Cường", "en")
        (identity,) = uow.accounts.identities(ids["account"])
        assert identity.reachable and not identity.preferred  # 0006: nobody chose a channel yet
        (role,) = uow.roles.active_of(ids["account"])
        assert (role.unit_id, role.role) == (ids["district"], "district_staff")
        invite = uow.invites.by_code("ABCD2345")
        assert invite.id == ids["invite"] and invite.used_by == ids["account"]
        state = uow.conversations.active(ids["account"])
        assert state is not None and (state.journey, state.step, state.data) == (
            "onboarding",
            "position",
            {"full_name": "Lê Văn Cường"},
        )
        assert uow.kv.get("chidoan.seeded") == "0001"
        event = uow.conn.execute(select(InboundEvent.__table__)).one()
        assert event.processed_at == event.received_at == T0 + timedelta(hours=2)  # 0009: handled then
        reply = uow.conn.execute(select(Outbox.__table__)).one()
        assert (reply.status, reply.kind, reply.priority) == ("pending", "reply", 0)  # 0011, 0014
        assert reply.body == {"text": "Đồng chí là cán bộ Thành đoàn Rạch Giá."}
        # New rows after the old ones: the ids the database hands out do not collide with them.
        later = uow.units.add(
            code="RG-VB", name="Đoàn phường Vĩnh Bảo", kind="base_unit", parent=district, reviews=False, now=T0
        )
        assert later.id > ids["district"]
        assert (
            uow.accounts.create_with_identity(
                channel="web", external_id="w1", chat_id="w1", display_name="Hà", locale="vi", now=T0, full_name="Hà"
            ).account_id
            > ids["account"]
        )
