"""Access is checked again when a journey finishes, not only when it starts (issue 7, part 2):
a report edited after the district reviewed it, a secretary replaced in the middle of a meeting
report, a dialogue or a follow-up note — nothing is stored, the person is told why, and storage
itself refuses a new version (or a withdrawal) of anything reviewed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from chidoan.bot.app import App
from chidoan.storage.models import (
    ConversationStatus,
    Registration,
    RegistrationStatus,
    Report,
    ReportKind,
    ReportStatus,
)
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member, new_invite
from tests.test_commitments import a_dialogue_with_a_promise
from tests.test_meetings import report_until_photos
from tests.test_registration import clock_at


@pytest.fixture
async def app(settings, org, db):
    add_member(db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    application = App(settings)
    await application.start()
    yield application
    await application.stop()


def revoke_all(db, account_id: int) -> None:
    """What a hand-over does to the old secretary, straight in the database."""
    with unit_of_work(db) as uow:
        for role in uow.roles.active_of(account_id):
            uow.roles.revoke(role.id, reason="handover", now=datetime.now(UTC))


def account(db, user_id: str) -> int:
    with unit_of_work(db) as uow:
        return uow.accounts.sender("web", user_id).account_id


def open_conversation(db, account_id: int):
    with unit_of_work(db) as uow:
        return uow.conversations.active(account_id)


def last_conversation(db, account_id: int):
    with unit_of_work(db) as uow:
        return uow.conversations.history(account_id)[-1]


def unit_reports(db, unit_code: str, kind: ReportKind) -> list:
    with unit_of_work(db) as uow:
        unit = uow.units.by_code(unit_code)
        return [(r, uow.reports.versions(r.id)) for r in uow.reports.of_unit(unit.id, kind)]


async def a_reported_meeting(user: WebUser) -> None:
    await report_until_photos(user)
    await user.press("Done")
    await user.press("Send the report")
    assert "20 of 25 members present" in user.text


async def edit_present_to_22(user: WebUser) -> None:
    """From /baocao, edit the meeting's attendance, up to the summary (not sent yet)."""
    await user.say("/baocao")
    await user.press("Meeting · v1")
    await user.press("Edit")
    await user.press("Edit")
    await user.press("Present")
    await user.say("22")
    assert "Please check your answers" in user.text and "Present: 22" in user.text


# ---- a report reviewed while it was being edited ----------------------------------------------


async def test_an_edit_sent_after_the_review_adds_no_version(app, db):
    async with WebUser(app, "branch", language="en") as user:
        await a_reported_meeting(user)
        await edit_present_to_22(user)
        with unit_of_work(db) as uow:  # the district reviews it meanwhile
            uow.conn.execute(update(Report.__table__).values(status=ReportStatus.reviewed))
        await user.press("Send the report")
        assert "reviewed this report in the meantime" in user.text
        assert "22 of 25" not in user.text
    [(report, versions)] = unit_reports(db, "RG-VB-KP1", ReportKind.meeting)
    assert report.version == 1 and [v.data["present"] for v in versions] == [20]
    assert report.status == ReportStatus.reviewed
    assert open_conversation(db, account(db, "branch")) is None


async def test_an_edit_sent_after_the_review_is_refused_in_vietnamese(app, db):
    async with WebUser(app, "branch", language="en") as user:
        await a_reported_meeting(user)
        await edit_present_to_22(user)
        send = user.button("Send the report")
        await user.say("/ngonngu")
        await user.press("Tiếng Việt")
        with unit_of_work(db) as uow:
            uow.conn.execute(update(Report.__table__).values(status=ReportStatus.reviewed))
        await user.send_frame({"type": "button", "payload": send})
        assert "Đoàn cấp trên" in user.text and "đồng chí" in user.text.lower()
    [(report, versions)] = unit_reports(db, "RG-VB-KP1", ReportKind.meeting)
    assert report.version == 1 and len(versions) == 1


# ---- a secretary replaced in the middle of a journey ------------------------------------------


async def test_a_secretary_replaced_during_a_meeting_report_files_nothing(app, db):
    code = new_invite(db, "RG-VB-KP1")
    async with WebUser(app, "branch", language="en") as old, WebUser(app, "newcomer", language="en") as new:
        await report_until_photos(old)
        await old.press("Done")
        send = old.button("Send the report")
        await new.say(code)  # the hand-over
        await new.say("Ngô Thị Mới")
        await new.say("Bí thư")
        await new.press("Confirm")
        assert "You are now Secretary of Chi đoàn Khu phố 1" in new.text
        await old.replies()  # told their access has ended
        await old.send_frame({"type": "button", "payload": send})
        assert "no longer secretary or deputy secretary of Chi đoàn Khu phố 1" in old.text
        assert "Thank you! The meeting" not in old.text
    assert unit_reports(db, "RG-VB-KP1", ReportKind.meeting) == []
    closed = last_conversation(db, account(db, "branch"))
    assert closed.journey == "meeting" and closed.status == ConversationStatus.cancelled


async def test_a_report_edit_after_the_role_is_revoked_adds_no_version(app, db):
    async with WebUser(app, "branch", language="en") as user:
        await a_reported_meeting(user)
        await edit_present_to_22(user)
        revoke_all(db, account(db, "branch"))
        await user.press("Send the report")
        assert "no longer secretary or deputy secretary of Chi đoàn Khu phố 1" in user.text
    [(report, versions)] = unit_reports(db, "RG-VB-KP1", ReportKind.meeting)
    assert report.version == 1 and len(versions) == 1


async def test_a_secretary_replaced_during_a_dialogue_report_files_nothing(app, db):
    async with WebUser(app, "sec", language="en") as sec:
        await sec.say("/doithoai")
        await sec.say("hôm qua")
        await sec.press("Commune")
        await sec.say("Nguyễn Văn Hùng")
        await sec.press("Bí thư Đảng ủy phường")
        await sec.press("No, continue")
        await sec.say("45")
        await sec.say("Đề nghị xây dựng sân bóng cho thanh niên")
        await sec.press("Skip")
        await sec.press("Yes")
        await sec.say("Khảo sát mặt bằng sân bóng")
        await sec.say("Chủ tịch UBND phường")
        await sec.press("Skip")
        await sec.press("No, continue")
        assert "Please check your answers" in sec.text
        revoke_all(db, account(db, "sec"))
        await sec.press("Send the report")
        assert "no longer secretary or deputy secretary of Đoàn phường Vĩnh Bảo" in sec.text
    assert unit_reports(db, "RG-VB", ReportKind.dialogue) == []
    with unit_of_work(db) as uow:
        assert uow.reports.due_commitments(date(2999, 1, 1)) == []


async def test_a_follow_up_note_after_the_role_is_revoked_is_not_stored(settings, org, db):
    commitment_id = a_dialogue_with_a_promise(db)
    application = App(settings, clock=clock_at(2026, 12, 10, 8, 0))
    await application.start()
    await application.sweeps.caught_up()  # the follow-up question, asked just after start
    try:
        async with WebUser(application, "sec", language="en") as sec:
            await sec.replies()
            await sec.press("In progress")
            assert "Recorded: In progress." in sec.text
            await sec.say("Đã khảo sát, chờ phê duyệt kinh phí")
            revoke_all(db, account(db, "sec"))
            await sec.press("Save")
            assert "no longer secretary or deputy secretary of Đoàn phường Vĩnh Bảo" in sec.text
            assert "the follow-up is saved" not in sec.text
    finally:
        await application.stop()
    with unit_of_work(db) as uow:
        commitment = uow.reports.commitment(commitment_id)
    assert commitment.note is None


# ---- storage refuses a new version or a withdrawal of anything reviewed -----------------------


def a_report(db) -> tuple[int, int]:
    author = add_member(db, "writer", "Phạm Minh Dũng", "RG-VB-KP1", "secretary")
    with unit_of_work(db) as uow:
        report_id = uow.reports.add(
            unit_id=uow.units.by_code("RG-VB-KP1").id,
            kind=ReportKind.meeting,
            held_on=date(2026, 11, 1),
            data={"present": 20},
            account_id=author,
            now=datetime.now(UTC),
        )
    return report_id, author


def test_storage_refuses_a_version_or_a_withdrawal_of_a_reviewed_report(db, org):
    from chidoan.storage.reports import ReportReadOnly

    report_id, author = a_report(db)
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.reports.set_status(report_id, ReportStatus.reviewed, now)
    with unit_of_work(db) as uow:
        with pytest.raises(ReportReadOnly) as refused:
            uow.reports.add_version(
                report_id, data={"present": 22}, held_on=date(2026, 11, 2), account_id=author, now=now
            )
        assert refused.value.status == ReportStatus.reviewed
        with pytest.raises(ReportReadOnly):
            uow.reports.withdraw(report_id, now)
    with unit_of_work(db) as uow:
        report = uow.reports.get(report_id)
        assert (report.status, report.version, report.held_on) == (ReportStatus.reviewed, 1, date(2026, 11, 1))
        assert len(uow.reports.versions(report_id)) == 1


def test_storage_refuses_a_version_of_a_reviewed_plan(db, org):
    from chidoan.storage.registrations import RegistrationReadOnly

    author = add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary")
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        registration = uow.registrations.open(uow.units.by_code("RG-VB").id, "three_proactives_2023_2027", 2027, now)
        document = uow.documents.add(kind="plan", filename="kh.docx", content=b"x", now=now)
        uow.registrations.add_version(
            registration, data={}, account_id=author, now=now, on_time=True, document_id=document
        )
        uow.conn.execute(
            update(Registration.__table__).values(status=RegistrationStatus.reviewed)
        )  # the district reviews it
    with unit_of_work(db) as uow:
        stale = uow.registrations.get(registration.id)
        with pytest.raises(RegistrationReadOnly):
            uow.registrations.add_version(
                stale, data={"x": 1}, account_id=author, now=now, on_time=True, document_id=document
            )
    with unit_of_work(db) as uow:
        assert uow.registrations.get(registration.id).version == 1
        assert len(uow.registrations.versions(registration.id)) == 1


# ---- the same on PostgreSQL -------------------------------------------------------------------


@pytest.mark.postgres
async def test_an_edit_sent_after_the_review_adds_no_version_on_postgresql(pg_url):
    from tests.conftest import make_settings, seed_org

    application = App(make_settings(pg_url))
    seed_org(application.db)
    add_member(application.db, "branch", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    await application.start()
    try:
        async with WebUser(application, "branch", language="en") as user:
            await a_reported_meeting(user)
            await edit_present_to_22(user)
            with unit_of_work(application.db) as uow:
                uow.conn.execute(update(Report.__table__).values(status=ReportStatus.reviewed))
            await user.press("Send the report")
            assert "reviewed this report in the meantime" in user.text
        [(report, versions)] = unit_reports(application.db, "RG-VB-KP1", ReportKind.meeting)
        assert report.version == 1 and len(versions) == 1
    finally:
        await application.stop()


@pytest.mark.postgres
def test_a_review_committed_after_the_check_still_stops_the_version_on_postgresql(pg_url):
    """The handler saw the report unreviewed; the district's review commits before the edit is
    written: the guarded write itself refuses, nothing slips past between check and write."""
    from chidoan.storage.db import make_db, upgrade
    from chidoan.storage.reports import ReportReadOnly
    from tests.conftest import seed_org

    engine = make_db(pg_url)
    upgrade(engine)
    seed_org(engine)
    report_id, author = a_report(engine)
    now = datetime.now(UTC)
    with unit_of_work(engine) as editor, unit_of_work(engine) as district:
        assert editor.reports.get(report_id).status == ReportStatus.submitted  # the handler's check
        district.reports.set_status(report_id, ReportStatus.reviewed, now)
        district.conn.commit()
        with pytest.raises(ReportReadOnly):
            editor.reports.add_version(
                report_id, data={"present": 22}, held_on=date(2026, 11, 2), account_id=author, now=now
            )
        with pytest.raises(ReportReadOnly):
            editor.reports.withdraw(report_id, now)
    with unit_of_work(engine) as uow:
        assert uow.reports.get(report_id).version == 1 and len(uow.reports.versions(report_id)) == 1
    engine.dispose()


# ---- a plan reviewed while it was being edited --------------------------------------------------


def plan_rows(db) -> tuple:
    from chidoan.storage.models import Document, Outbox

    with unit_of_work(db) as uow:
        registration = uow.registrations.find(uow.units.by_code("RG-VB").id, "three_proactives_2023_2027", 2027)
        documents = uow.conn.execute(select(func.count()).select_from(Document.__table__)).scalar_one()
        outbox = Outbox.__table__
        to_staff = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.chat_id == "staff")
        ).scalar_one()
        return registration, uow.registrations.versions(registration.id), documents, to_staff


@pytest.mark.parametrize("review_lands", ["before the check", "after the check"])
async def test_a_plan_edit_sent_after_the_review_adds_no_version(settings, db, org, monkeypatch, review_lands):
    from chidoan.storage.registrations import Registrations
    from tests.test_registration import register

    add_member(db, "sec", "Lê Văn Cường", "RG-VB", "secretary", locale="en")
    add_member(db, "staff", "Trần Thị Bình", "RG", "district_staff", locale="en")
    application = App(settings, clock=clock_at(2026, 10, 1, 8, 0))
    await application.start()
    try:
        async with WebUser(application, "sec", language="en") as sec:
            await register(sec)
            await sec.say("/dangky 2027")
            await sec.press("Edit the plan")
            assert "Please check your answers" in sec.text
            before = plan_rows(db)
            with unit_of_work(db) as uow:
                uow.conn.execute(update(Registration.__table__).values(status=RegistrationStatus.reviewed))
            if review_lands == "after the check":  # the handler read the plan just before: storage must refuse
                real_get = Registrations.get

                def read_before_the_review(self, registration_id):
                    row = real_get(self, registration_id)
                    return SimpleNamespace(**row._asdict() | {"status": RegistrationStatus.submitted})

                monkeypatch.setattr(Registrations, "get", read_before_the_review)
            await sec.press("Submit the plan")
            assert "reviewed this plan in the meantime" in sec.text
            assert "submitted (version 2)" not in sec.text
    finally:
        await application.stop()
    registration, versions, documents, to_staff = plan_rows(db)
    assert registration.version == 1 and len(versions) == 1
    assert (documents, to_staff) == before[2:]  # no new document, no district notice
    assert open_conversation(db, account(db, "sec")) is None
