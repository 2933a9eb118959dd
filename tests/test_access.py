"""Storage refuses a new version (or a withdrawal) of anything reviewed, in the write itself, so
a review that lands between a handler's check and its write is not slipped past (issue 7, part 2)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from chidoan.storage.models import Registration, RegistrationStatus, ReportKind, ReportStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member

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
def test_a_review_committed_after_the_check_still_stops_the_version_on_postgresql(pg_url):
    """The handler saw the report unreviewed; the district's review commits before the edit is
    written: the guarded write itself refuses, nothing slips past between check and write."""
    from chidoan.storage.db import make_engine, upgrade
    from chidoan.storage.reports import ReportReadOnly
    from tests.conftest import seed_org

    engine = make_engine(pg_url)
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
