"""Org changes keep history: a unit moved by `chidoan org import` (its subtree with it, seen by
its new reviewing staff and no longer by the old), a move under its own subtree refused, and
`chidoan org merge` (children, roles, open commitments and invites handled, registrations and
reports kept on the merged unit, audited, people told), on SQLite and PostgreSQL; the merged
unit is not chased by reminders any more."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from chidoan.bot.cli import main as cli
from chidoan.bot.orgimport import import_org
from chidoan.bot.orgmerge import merge_units
from chidoan.handlers.scope import in_scope
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import (
    Commitment,
    Invite,
    Outbox,
    OutboxStatus,
    ReportKind,
    RoleAssignment,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, make_settings, new_invite, seed_org
from tests.test_reminders import REMINDING, backdate, local, outbox, reminders, sweeper

PROGRAMME = "three_proactives_2023_2027"
HEADER = "code,name,kind,parent_code\n"


def write(tmp_path: Path, text: str, name: str = "org.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def units(engine) -> dict:
    with unit_of_work(engine) as uow:
        return uow.units.codes()


def staff(engine, account_id: int) -> SimpleNamespace:
    """What scope.py reads of a handler's context: the account's live roles."""
    with unit_of_work(engine) as uow:
        return SimpleNamespace(roles=uow.roles.active_of(account_id))


def add_unit(engine, code: str, name: str, kind: str, parent: str) -> None:
    with unit_of_work(engine) as uow:
        uow.units.add(
            code=code, name=name, kind=kind, parent=uow.units.by_code(parent), reviews=False, now=datetime.now(UTC)
        )


# --- moves by the import -------------------------------------------------------------------


def test_import_moves_a_base_unit_to_another_district_with_its_subtree(db, org, tmp_path, capsys, monkeypatch):
    add_unit(db, "RG-VB-LC", "Liên chi đoàn Khu phố", "branch_group", "RG-VB")
    add_unit(db, "RG-VB-LC-1", "Chi đoàn Khu phố 1A", "branch", "RG-VB-LC")
    rg_staff = add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    ct_staff = add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    before = units(db)
    assert in_scope(staff(db, rg_staff), before["RG-VB-LC-1"])
    assert not in_scope(staff(db, ct_staff), before["RG-VB-LC-1"])

    # The commune goes to Châu Thành; its branch is renamed in the same file.
    text = HEADER + "RG-VB-KP1,Chi đoàn Khu phố Một,chi đoàn,RG-VB\nRG-VB,Đoàn phường Vĩnh Bảo,cơ sở,CT\n"
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", str(db.url))
    assert cli(["org", "import", str(write(tmp_path, text))]) == 0
    assert "0 đơn vị mới, 1 đơn vị cập nhật, 1 đơn vị chuyển sang đơn vị cấp trên mới" in capsys.readouterr().out

    after = units(db)
    ct, vb = after["CT"], after["RG-VB"]
    assert vb.parent_id == ct.id and vb.path == f"{ct.path}{vb.id}/"
    assert after["RG-VB-KP1"].path == f"{vb.path}{after['RG-VB-KP1'].id}/"
    assert after["RG-VB-LC"].path == f"{vb.path}{after['RG-VB-LC'].id}/"
    assert after["RG-VB-LC-1"].path == f"{after['RG-VB-LC'].path}{after['RG-VB-LC-1'].id}/"
    assert after["RG-VB-KP1"].name == "Chi đoàn Khu phố Một"
    assert after["RG-VB-KP1"].folded_name == "chi doan khu pho mot"
    untouched = ("KG", "RG", "CT", "CT-ML", "KG-CD")
    assert {c: after[c].path for c in untouched} == {c: before[c].path for c in untouched}
    with unit_of_work(db) as uow:
        assert [u.code for u in uow.units.subtree(after["RG"])] == ["RG"]
        assert {u.code for u in uow.units.subtree(ct)} == {
            "CT",
            "CT-ML",
            "RG-VB",
            "RG-VB-KP1",
            "RG-VB-LC",
            "RG-VB-LC-1",
        }
        assert uow.units.reviewer(after["RG-VB-LC-1"]).code == "CT"
        changes = [(c.kind, c.unit_id, c.detail, c.by) for c in uow.org_changes.all()]
    for code in ("RG-VB", "RG-VB-KP1", "RG-VB-LC", "RG-VB-LC-1"):
        assert in_scope(staff(db, ct_staff), after[code]), code
        assert not in_scope(staff(db, rg_staff), after[code]), code
    assert changes == [
        ("move", vb.id, {"code": "RG-VB", "old_parent": "RG", "new_parent": "CT"}, None),
        (
            "rename",
            after["RG-VB-KP1"].id,
            {"code": "RG-VB-KP1", "old_name": "Chi đoàn Khu phố 1", "new_name": "Chi đoàn Khu phố Một"},
            None,
        ),
    ]

    # The same file again changes nothing more.
    again = import_org(db, write(tmp_path, text, "again.csv"))
    assert (again.ok, again.created, again.updated, again.moved) == (True, 0, 0, 0)
    assert units(db) == after


def test_moves_in_one_file_a_new_parent_and_a_unit_moved_under_it(db, org, tmp_path):
    """A new district, a base unit moved under it, and a branch moved under that base unit:
    parents first, each path as it is after the moves above it."""
    text = (
        HEADER
        + "RG-VB-KP1,Chi đoàn Khu phố 1,chi đoàn,CT-ML\nGR,Huyện đoàn Giồng Riềng,huyện,KG\nCT-ML,Đoàn xã Minh Lương,cơ sở,GR\n"
    )
    result = import_org(db, write(tmp_path, text))
    assert (result.ok, result.created, result.moved) == (True, 1, 2), result.problems
    after = units(db)
    kg, gr, ml, kp1 = (after[c] for c in ("KG", "GR", "CT-ML", "RG-VB-KP1"))
    assert kp1.path == f"/{kg.id}/{gr.id}/{ml.id}/{kp1.id}/"
    assert kp1.parent_id == ml.id and ml.parent_id == gr.id


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Under its own branch (a stored child): refused as such, not as a wrong level.
        (
            "RG-VB,Đoàn phường Vĩnh Bảo,cơ sở,RG-VB-KP1\n",
            "Dòng 2: không thể chuyển 'RG-VB' vào 'RG-VB-KP1': đó là đơn vị cấp dưới của chính 'RG-VB'",
        ),
        # The root under a branch three levels below it.
        (
            "RG,Thành đoàn Rạch Giá,huyện,KG\nKG,Tỉnh đoàn Kiên Giang,tỉnh,RG-VB-KP1\n",
            "Dòng 3: không thể chuyển 'KG' vào 'RG-VB-KP1': đó là đơn vị cấp dưới của chính 'KG'",
        ),
        ("RG-VB,Đoàn phường Vĩnh Bảo,cơ sở,RG-VB\n", "Dòng 2: đơn vị không thể trực thuộc chính nó"),
        ("RG-VB,Đoàn phường Vĩnh Bảo,cơ sở,KG-CD\n", "Dòng 2: đoàn cơ sở không thể trực thuộc đoàn cơ sở"),
    ],
)
def test_a_move_under_its_own_subtree_or_level_is_refused_with_its_row(db, org, tmp_path, body, expected):
    before = units(db)
    result = import_org(db, write(tmp_path, HEADER + body))
    assert [str(p) for p in result.problems] == [expected]
    assert units(db) == before
    with unit_of_work(db) as uow:
        assert uow.org_changes.all() == []


def test_a_loop_through_the_file_and_the_stored_tree(db, org, tmp_path):
    """RG goes under CT-ML, and CT-ML under RG-VB, which is stored under RG: each row alone is
    a move elsewhere, together they put RG under its own subtree. Named on the loop's first row;
    the levels are not reported on top of it."""
    body = "RG,Thành đoàn Rạch Giá,huyện,CT-ML\nCT-ML,Đoàn xã Minh Lương,cơ sở,RG-VB\n"
    result = import_org(db, write(tmp_path, HEADER + body))
    assert [str(p) for p in result.problems] == [
        "Dòng 2: không thể chuyển 'RG' vào 'CT-ML': đó là đơn vị cấp dưới của chính 'RG'"
    ]
    # In the file alone, the loop reads as before.
    body = "RG-VB,Đoàn phường Vĩnh Bảo,cơ sở,CT-ML\nCT-ML,Đoàn xã Minh Lương,cơ sở,RG-VB\n"
    result = import_org(db, write(tmp_path, HEADER + body, "loop.csv"))
    assert [str(p) for p in result.problems] == ["Dòng 2: đơn vị cấp trên tạo thành vòng lặp: RG-VB → CT-ML → RG-VB"]


# --- merges ------------------------------------------------------------------------------------


def build_merge_case(engine) -> dict:
    """CT-ML (to be merged) with a branch group and its branch, a branch; its secretary, a
    deputy, someone who is secretary of both CT-ML and RG-VB; RG-VB's own secretary; CT-ML's
    2025 plan, a dialogue report with an open, an in-progress and a done commitment; a pending
    invite, a used one."""
    add_unit(engine, "CT-ML-A", "Chi đoàn Ấp A", "branch", "CT-ML")
    add_unit(engine, "CT-ML-LC", "Liên chi đoàn Trường THCS", "branch_group", "CT-ML")
    add_unit(engine, "CT-ML-LC-1", "Chi đoàn Giáo viên", "branch", "CT-ML-LC")
    people = {
        "ml": add_member(engine, "ml", "Đặng Thu Hà", "CT-ML", "secretary"),
        "deputy": add_member(engine, "dp", "Lý Văn Nam", "CT-ML", "deputy", locale="en"),
        "both": add_member(engine, "both", "Tô Minh Khoa", "CT-ML", "secretary"),
        "vb": add_member(engine, "vb", "Lê Văn Cường", "RG-VB", "secretary"),
        "ct": add_member(engine, "ct", "Ngô Văn Tâm", "CT", "district_staff"),
    }
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        ml, vb = uow.units.by_code("CT-ML"), uow.units.by_code("RG-VB")
        uow.roles.grant(account_id=people["both"], unit_id=vb.id, role="secretary", invite_id=None, now=now)
        registration = uow.registrations.open(ml.id, PROGRAMME, 2025, now)
        uow.registrations.add_version(
            registration, data={}, account_id=people["ml"], now=now, on_time=True, document_id=None
        )
        report = uow.reports.add(
            unit_id=ml.id, kind=ReportKind.dialogue, held_on=date(2026, 5, 5), data={}, account_id=people["ml"], now=now
        )
        ids = {}
        for promise, status in (("Sửa đường", "open"), ("Lắp đèn", "in_progress"), ("Xây sân", "done")):
            ids[promise] = uow.reports.add_commitment(
                report_id=report,
                unit_id=ml.id,
                promise=promise,
                promised_by="UBND xã",
                due_on=date(2026, 12, 1),
                now=now,
            )
            if status != "open":
                uow.reports.follow_up(ids[promise], status=status, note=None, now=now)
        meeting = uow.reports.add(
            unit_id=uow.units.by_code("CT-ML-A").id,
            kind=ReportKind.meeting,
            held_on=date(2026, 6, 1),
            data={},
            account_id=people["ml"],
            now=now,
        )
    people["pending_invite"] = new_invite(engine, "CT-ML")
    used = new_invite(engine, "CT-ML", "deputy")
    with unit_of_work(engine) as uow:
        invite = uow.invites.by_code(used)
        uow.invites.consume(invite.id, people["deputy"], now)
    return people | {"report": report, "meeting": meeting, "commitments": ids, "registration": registration.id}


def test_merge_by_the_command_line(db, org, settings, capsys, monkeypatch):
    case = build_merge_case(db)
    before = units(db)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)

    assert cli(["org", "merge", "--from", "CT-ML", "--into", "RG-VB", "--on", "01/07/2025"]) == 0
    out = capsys.readouterr().out
    assert "Đã sáp nhập Đoàn xã Minh Lương (CT-ML) vào Đoàn phường Vĩnh Bảo (RG-VB) từ ngày 01/07/2025." in out
    assert "2 đơn vị trực thuộc chuyển sang RG-VB; 3 vai trò tiếp tục ở RG-VB, 0 vai trò kết thúc" in out, out
    assert "2 cam kết chưa xong chuyển sang RG-VB; 1 mã mời bị huỷ; 3 thông báo" in out, out

    after = units(db)
    x, y = after["CT-ML"], after["RG-VB"]
    assert (x.closed_on, x.merged_into) == (date(2025, 7, 1), y.id)
    assert x.path == before["CT-ML"].path and x.parent_id == before["CT"].id  # X stays where it was
    assert y.closed_on is None and y.path == before["RG-VB"].path
    # Children (and the branch group's branch) under Y.
    assert after["CT-ML-A"].parent_id == y.id and after["CT-ML-A"].path == f"{y.path}{after['CT-ML-A'].id}/"
    lc = after["CT-ML-LC"]
    assert lc.parent_id == y.id and lc.path == f"{y.path}{lc.id}/"
    assert after["CT-ML-LC-1"].path == f"{lc.path}{after['CT-ML-LC-1'].id}/"
    with unit_of_work(db) as uow:
        assert {u.code for u in uow.units.subtree(x)} == {"CT-ML"}
        assert uow.units.reviewer(after["CT-ML-LC-1"]).code == "RG"

        # Roles: revoked on X with reason "merged", continued on Y, one each.
        on_x = uow.roles.history(x.id)
        assert {(r.account_id, r.revoked_reason) for r in on_x} == {
            (case["ml"], "merged"),
            (case["deputy"], "merged"),
            (case["both"], "merged"),
        }
        assert all(r.revoked_at is not None for r in on_x)
        live_y = [(r.account_id, r.role) for r in uow.roles.history(y.id) if r.revoked_at is None]
        assert sorted(live_y) == sorted(
            [
                (case["vb"], "secretary"),
                (case["both"], "secretary"),
                (case["ml"], "secretary"),
                (case["deputy"], "deputy"),
            ]
        )

        # Unfinished commitments go to Y; the done one, the reports and the plan stay X's history.
        com = Commitment.__table__
        where = {c.promise: c.unit_id for c in uow.conn.execute(select(com.c.promise, com.c.unit_id))}
        assert where == {"Sửa đường": y.id, "Lắp đèn": y.id, "Xây sân": x.id}
        assert uow.reports.one(case["report"]).unit_id == x.id
        assert uow.reports.one(case["meeting"]).unit_id == after["CT-ML-A"].id
        registration = uow.registrations.find(x.id, PROGRAMME, 2025)
        assert registration is not None and registration.id == case["registration"] and registration.version == 1
        assert uow.registrations.find(y.id, PROGRAMME, 2025) is None

        # The pending invite is void; the used one is as it was.
        pending = uow.invites.by_code(case["pending_invite"])
        assert pending.expires_at <= datetime.now(UTC)
        used = [i for i in uow.conn.execute(select(Invite.__table__)) if i.used_at is not None]
        assert len(used) == 1 and used[0].expires_at > datetime.now(UTC)

        # Audited.
        changes = uow.org_changes.all()
    merge = [c for c in changes if c.kind == "merge"]
    assert len(merge) == 1 and merge[0].unit_id == x.id and merge[0].by is None
    assert merge[0].detail | {"children": sorted(merge[0].detail["children"])} == {
        "from": "CT-ML",
        "into": "RG-VB",
        "on": "2025-07-01",
        "old_parent": "CT",
        "old_name": "Đoàn xã Minh Lương",
        "children": ["CT-ML-A", "CT-ML-LC"],
        "roles_moved": 3,
        "roles_ended": 0,
        "commitments": 2,
        "invites": 1,
    }
    moves = {c.unit_id: c.detail for c in changes if c.kind == "move"}
    assert moves == {
        after[c].id: {"code": c, "old_parent": "CT-ML", "new_parent": "RG-VB", "merge": "CT-ML"}
        for c in ("CT-ML-A", "CT-ML-LC")
    }

    # Each person who held a role on X is told, in their language, once.
    out_table = Outbox.__table__
    with db.connect() as conn:
        notices = {r.account_id: r for r in conn.execute(select(out_table).where(out_table.c.kind == "notice"))}
    assert set(notices) == {case["ml"], case["deputy"], case["both"]}
    text = notices[case["ml"]].body["text"]
    assert "Đoàn xã Minh Lương đã được sáp nhập vào Đoàn phường Vĩnh Bảo từ ngày 01/07/2025" in text, text
    assert "Đồng chí tiếp tục là Bí thư Đoàn phường Vĩnh Bảo" in text, text
    assert "bạn" not in text.casefold()
    assert "Your role continues there: Deputy secretary of Đoàn phường Vĩnh Bảo" in notices[case["deputy"]].body["text"]

    # A second merge of X is refused, and says into what it went.
    assert cli(["org", "merge", "--from", "CT-ML", "--into", "KG-CD"]) == 1
    assert "CT-ML' đã được sáp nhập vào 'RG-VB' từ ngày 01/07/2025" in capsys.readouterr().err
    # Nor is an invite to it issued.
    assert cli(["invite", "--unit", "CT-ML", "--role", "secretary"]) == 1
    assert "CT-ML đã hợp nhất vào Đoàn phường Vĩnh Bảo (RG-VB)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "target", "on", "words"),
    [
        ("CT-ML", "CT-ML", None, "Không thể sáp nhập đơn vị 'CT-ML' vào chính nó."),
        ("RG", "RG-VB", None, "Không thể sáp nhập 'RG' vào 'RG-VB': 'RG-VB' là đơn vị cấp dưới của 'RG'."),
        ("RG-VB", "RG-VB-KP1", None, "'RG-VB-KP1' là đơn vị cấp dưới của 'RG-VB'"),
        (
            "CT",
            "KG-CD",
            None,
            "Không thể sáp nhập đơn vị cấp trên trực tiếp cơ sở 'CT' vào đoàn cơ sở 'KG-CD' (cấp thấp hơn)",
        ),
        ("CT-ML", "NOWHERE", None, "Không tìm thấy đơn vị có mã 'NOWHERE'."),
        ("CT-ML", "RG-VB", "01/01/2099", "Ngày sáp nhập 01/01/2099 chưa đến"),
        ("CT-ML", "RG-VB", "31/02/2025", "không hợp lệ"),
    ],
)
def test_merges_that_are_refused_change_nothing(db, org, settings, capsys, monkeypatch, source, target, on, words):
    add_member(db, "ml", "Đặng Thu Hà", "CT-ML", "secretary")
    before = units(db)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    args = ["org", "merge", "--from", source, "--into", target] + (["--on", on] if on else [])
    assert cli(args) in (1, 2)
    assert words in capsys.readouterr().err
    assert units(db) == before
    with unit_of_work(db) as uow:
        assert uow.org_changes.all() == []
        assert all(r.revoked_at is None for r in uow.conn.execute(select(RoleAssignment.__table__)))


def test_a_branch_group_dissolved_into_its_base_unit_ends_its_roles(db, org, settings):
    """Y of a higher level: X's branches go under Y, X's secretary's role ends (it is not Y's)."""
    add_unit(db, "RG-VB-LC", "Liên chi đoàn Khu phố", "branch_group", "RG-VB")
    add_unit(db, "RG-VB-LC-1", "Chi đoàn Khu phố 1A", "branch", "RG-VB-LC")
    lc_secretary = add_member(db, "lc", "Mai Văn Lộc", "RG-VB-LC", "secretary")
    result = merge_units(db, "RG-VB-LC", "RG-VB", settings=settings)
    assert (result.roles_moved, result.roles_ended, result.children, result.notices) == (0, 1, ["RG-VB-LC-1"], 1)
    after = units(db)
    assert after["RG-VB-LC-1"].path == f"{after['RG-VB'].path}{after['RG-VB-LC-1'].id}/"
    with unit_of_work(db) as uow:
        assert uow.roles.active_of(lc_secretary) == []
        notice = uow.conn.execute(select(Outbox.__table__).where(Outbox.__table__.c.account_id == lc_secretary)).one()
    assert "đã kết thúc" in notice.body["text"], notice.body["text"]


# --- after a merge ------------------------------------------------------------------------------


@pytest.fixture
def reminding(database_url):
    return make_settings(database_url, CHIDOAN_SWEEP_PROCESS=False, **REMINDING)


async def test_reminders_do_not_chase_the_merged_unit(reminding, tmp_path):
    """CT-ML is reminded of its plan on 12/10, merged into RG-VB on 13/10: what was queued for it
    is cancelled, the sweep on 15/10 (the first late day) makes nothing for it and CT's digest
    does not list it; its moved commitment is owed, and reminded, by RG-VB, and its secretary is
    reminded of RG-VB's plan."""
    db = make_db(reminding.database_url)
    upgrade(db)
    seed_org(db)
    ml = add_member(db, "ml", "Đặng Thu Hà", "CT-ML", "secretary")
    vb = add_member(db, "vb", "Lê Văn Cường", "RG-VB", "secretary")
    add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    add_member(db, "rg", "Trần Thị Bình", "RG", "district_staff")
    backdate(db)
    with unit_of_work(db) as uow:
        x, y = uow.units.by_code("CT-ML"), uow.units.by_code("RG-VB")
        report = uow.reports.add(
            unit_id=x.id,
            kind=ReportKind.dialogue,
            held_on=date(2026, 5, 5),
            data={},
            account_id=ml,
            now=local(2026, 5, 5, 9),
        )
        uow.reports.add_commitment(
            report_id=report,
            unit_id=x.id,
            promise="Sửa đường",
            promised_by="UBND xã",
            due_on=date(2026, 10, 11),
            now=local(2026, 5, 5, 9),
        )
    sweeps = await sweeper(reminding)
    try:
        await sweeps.reminders(local(2026, 10, 12, 8, 0))
        queued_for_x = [r for r in reminders(db) if r.unit_id == x.id and not r.obligation.startswith("commitment:")]
        assert queued_for_x, "CT-ML was reminded of its plan before the merge"
        result = merge_units(db, "CT-ML", "RG-VB", settings=reminding, now=local(2026, 10, 13, 9, 0))
        assert result.reminders >= 1
        assert all(
            r.status == OutboxStatus.cancelled
            for r in outbox(db)
            if any(r.dedupe_key.startswith(f"reminder:{q.obligation}:") for q in queued_for_x)
        )
        made_before = {r.id for r in reminders(db)}

        await sweeps.reminders(local(2026, 10, 15, 9, 0))
        await sweeps.reminders(local(2026, 10, 22, 9, 0))
    finally:
        await sweeps.processor.stop()
    new = [r for r in reminders(db) if r.id not in made_before]
    assert new, "the sweeps after the merge remind Y"
    assert not [r for r in new if r.unit_id == x.id], [r.obligation for r in new if r.unit_id == x.id]
    assert not [r for r in new if f":{x.id}:" in r.obligation or r.obligation.endswith(f":{x.id}")]
    plan_y = f"plan:{PROGRAMME}:2027:{y.id}"
    assert {r.account_id for r in new if r.obligation == plan_y} == {vb, ml}
    commitment = [r for r in new if r.obligation.startswith("commitment:")]
    assert commitment and {r.unit_id for r in commitment} == {y.id}
    assert {r.account_id for r in commitment} == {vb, ml}
    digests = [r.obligation for r in new if r.obligation.startswith("digest:")]
    ct_id = units(db)["CT"].id
    assert not [d for d in digests if d.startswith(f"digest:{ct_id}:")], digests  # CT has nobody late now
    assert [d for d in digests if d.startswith(f"digest:{units(db)['RG'].id}:")]
    db.dispose()


async def test_the_merged_secretary_sees_the_new_unit_in_toi(app, db):
    add_member(db, "ml", "Đặng Thu Hà", "CT-ML", "secretary")
    merge_units(db, "CT-ML", "RG-VB", settings=app.settings)
    async with WebUser(app, "ml") as ml:
        await ml.say("/toi")
        assert "Đoàn phường Vĩnh Bảo" in ml.text and "RG-VB" in ml.text, ml.text
        assert "Đoàn xã Minh Lương (" not in ml.text, ml.text


@pytest.mark.postgres
def test_moves_and_merges_on_postgresql(pg_url, tmp_path):
    settings = make_settings(pg_url)
    engine = make_db(pg_url)
    upgrade(engine)
    seed_org(engine)
    case = build_merge_case(engine)
    text = HEADER + "RG-VB,Đoàn phường Vĩnh Bảo,cơ sở,CT\n"
    result = import_org(engine, write(tmp_path, text))
    assert (result.ok, result.moved) == (True, 1), result.problems
    moved = units(engine)
    assert moved["RG-VB-KP1"].path == f"{moved['CT'].path}{moved['RG-VB'].id}/{moved['RG-VB-KP1'].id}/"

    merge_units(engine, "CT-ML", "RG-VB", settings=settings, on=date(2025, 7, 1))
    after = units(engine)
    y = after["RG-VB"]
    assert after["CT-ML"].closed_on == date(2025, 7, 1) and after["CT-ML"].merged_into == y.id
    lc = after["CT-ML-LC"]
    assert lc.path == f"{y.path}{lc.id}/" and after["CT-ML-LC-1"].path == f"{lc.path}{after['CT-ML-LC-1'].id}/"
    assert after["CT-ML-A"].path == f"{y.path}{after['CT-ML-A'].id}/"
    with unit_of_work(engine) as uow:
        assert {u.code for u in uow.units.subtree(after["CT"])} == {
            "CT",
            "CT-ML",
            "RG-VB",
            "RG-VB-KP1",
            "CT-ML-A",
            "CT-ML-LC",
            "CT-ML-LC-1",
        }
        assert uow.registrations.find(after["CT-ML"].id, PROGRAMME, 2025) is not None
        assert [c.kind for c in uow.org_changes.all()] == ["move", "move", "move", "merge"]
        live = {(r.account_id, r.role) for r in uow.roles.history(y.id) if r.revoked_at is None}
    assert (case["ml"], "secretary") in live and (case["deputy"], "deputy") in live
    engine.dispose()


def test_an_old_file_after_a_merge_is_refused(db, org, settings, tmp_path):
    """Re-importing the tree from before the merger would put units back under the merged one."""
    add_unit(db, "CT-ML-A", "Chi đoàn Ấp A", "branch", "CT-ML")
    merge_units(db, "CT-ML", "RG-VB", settings=settings)
    old = (
        HEADER
        + "CT-ML,Đoàn xã Minh Lương,cơ sở,CT\nCT-ML-A,Chi đoàn Ấp A,chi đoàn,CT-ML\nCT-ML-B,Chi đoàn Ấp B,chi đoàn,CT-ML\n"
    )
    result = import_org(db, write(tmp_path, old))
    assert [str(p) for p in result.problems] == [
        "Dòng 3: đơn vị cấp trên 'CT-ML' đã được sáp nhập vào đơn vị khác",
        "Dòng 4: đơn vị cấp trên 'CT-ML' đã được sáp nhập vào đơn vị khác",
    ]
    moved = HEADER + "CT-ML,Đoàn xã Minh Lương,cơ sở,RG\n"
    result = import_org(db, write(tmp_path, moved, "moved.csv"))
    assert [str(p) for p in result.problems] == [
        "Dòng 2: đơn vị 'CT-ML' đã được sáp nhập vào đơn vị khác, không chuyển được"
    ]
    renamed = HEADER + "CT-ML,Đoàn xã Minh Lương (cũ),cơ sở,CT\n"
    assert import_org(db, write(tmp_path, renamed, "renamed.csv")).updated == 1  # its name may still change


def migrate_down_and_up(engine) -> None:
    """Revision 0016 (org_change) up, down to 0015 and up again, with a row in it."""
    from alembic import command
    from sqlalchemy import inspect

    from tests.test_storage import migrator, schema_drift

    to = migrator(engine)
    to("head")
    seed_org(engine)
    with unit_of_work(engine) as uow:
        unit = uow.units.by_code("CT-ML")
        uow.org_changes.add(kind="rename", unit_id=unit.id, detail={"old_name": "X"}, by=None, now=datetime.now(UTC))
    to("0015", command.downgrade)
    assert "org_change" not in inspect(engine).get_table_names()
    to("head")
    assert schema_drift(engine) == []
    with unit_of_work(engine) as uow:
        assert uow.org_changes.all() == []


def test_the_org_change_migration_goes_down_and_up_on_sqlite(tmp_path):
    engine = make_db(f"sqlite:///{tmp_path}/m.sqlite3")
    migrate_down_and_up(engine)
    engine.dispose()


@pytest.mark.postgres
def test_the_org_change_migration_goes_down_and_up_on_postgresql(pg_url):
    engine = make_db(pg_url)
    migrate_down_and_up(engine)
    engine.dispose()


def test_a_reviewing_unit_merged_into_another_brings_its_units_and_staff(db, org, settings):
    """Two district unions merged: CT's base unit is reviewed by RG from now on, and CT's staff
    act on it there."""
    ct_staff = add_member(db, "ct", "Ngô Văn Tâm", "CT", "district_staff")
    result = merge_units(db, "CT", "RG", settings=settings)
    assert (result.children, result.roles_moved) == (["CT-ML"], 1)
    after = units(db)
    assert after["CT-ML"].path == f"{after['RG'].path}{after['CT-ML'].id}/"
    with unit_of_work(db) as uow:
        assert uow.units.reviewer(after["CT-ML"]).code == "RG"
    ctx = staff(db, ct_staff)
    assert [r.code for r in ctx.roles] == ["RG"]
    assert in_scope(ctx, after["CT-ML"]) and in_scope(ctx, after["RG-VB-KP1"])
