"""Reports of events (branch meetings, dialogues): one row per event, every edit a version."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, Row, func, select, tuple_

from chidoan.storage.models import (
    Commitment,
    CommitmentStatus,
    OrgUnit,
    Report,
    ReportStatus,
    ReportVersion,
    table,
)
from chidoan.storage.rows import found, inserted_id
from chidoan.storage.versions import Versioned

REP = table(Report)
REP_VER = table(ReportVersion)
COM = table(Commitment)
UNIT = table(OrgUnit)
REPORT_VERSIONS = Versioned(REP, REP_VER, key="report_id", name="report version")


class ReportReadOnly(Exception):
    """Only a submitted report takes a new version or is withdrawn; a reviewed one is read-only
    (and a withdrawn one stays as it was). Checked in the write itself, so a review that lands
    between a handler's check and its write is not slipped past."""

    def __init__(self, report_id: int, status: str):
        super().__init__(f"report {report_id} is {status}")
        self.report_id = report_id
        self.status = status


class Reports:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, *, unit_id: int, kind: str, held_on: date, data: dict, account_id: int, now: datetime) -> int:
        report_id = inserted_id(
            self.conn.execute(
                REP.insert().values(
                    unit_id=unit_id,
                    kind=kind,
                    held_on=held_on,
                    status="submitted",
                    version=1,
                    created_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        REPORT_VERSIONS.add(self.conn, report_id, 1, data=data, account_id=account_id, now=now)
        return report_id

    def of_unit(self, unit_id: int, kind: str) -> list[Row]:
        return list(
            self.conn.execute(
                select(REP).where(REP.c.unit_id == unit_id, REP.c.kind == kind).order_by(REP.c.held_on, REP.c.id)
            )
        )

    def latest_data(self, report_id: int) -> dict:
        return REPORT_VERSIONS.latest_data(self.conn, report_id)

    def versions(self, report_id: int) -> list[Row]:
        return REPORT_VERSIONS.history(self.conn, report_id)

    def add_commitment(
        self, *, report_id: int, unit_id: int, promise: str, promised_by: str, due_on: date | None, now: datetime
    ) -> int:
        return inserted_id(
            self.conn.execute(
                COM.insert().values(
                    report_id=report_id,
                    unit_id=unit_id,
                    promise=promise,
                    promised_by=promised_by,
                    due_on=due_on,
                    status=CommitmentStatus.open,
                    created_at=now,
                    updated_at=now,
                )
            )
        )

    def commitments(self, report_id: int) -> list[Row]:
        return list(self.conn.execute(select(COM).where(COM.c.report_id == report_id).order_by(COM.c.id)))

    def one(self, report_id: int) -> Row:
        """The report, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(report_id), "report", report_id)

    def get(self, report_id: int) -> Row | None:
        return self.conn.execute(select(REP).where(REP.c.id == report_id)).first()

    def one_commitment(self, commitment_id: int) -> Row:
        return found(self.commitment(commitment_id), "commitment", commitment_id)

    def commitment(self, commitment_id: int) -> Row | None:
        return self.conn.execute(select(COM).where(COM.c.id == commitment_id)).first()

    def due_commitments(
        self, today: date, *, after: tuple[date, int] | None = None, limit: int | None = None
    ) -> list[Row]:
        """Open commitments whose day has come (each is asked about once; see bot/sweeps.py), by
        (due_on, id): with `after` and `limit`, the next so many after that one."""
        stmt = (
            select(COM)
            .where(COM.c.status == CommitmentStatus.open, COM.c.due_on.is_not(None), COM.c.due_on <= today)
            .order_by(COM.c.due_on, COM.c.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(tuple_(COM.c.due_on, COM.c.id) > tuple_(*after))
        return list(self.conn.execute(stmt))

    def by_ids(self, report_ids: set[int]) -> dict[int, Row]:
        return {r.id: r for r in self.conn.execute(select(REP).where(REP.c.id.in_(sorted(report_ids))))}

    def follow_up(
        self, commitment_id: int, *, status: str | None = None, note: str | None = None, now: datetime
    ) -> None:
        values = (
            {"updated_at": now} | ({"status": status} if status else {}) | ({"note": note} if note is not None else {})
        )
        self.conn.execute(COM.update().where(COM.c.id == commitment_id).values(**values))

    def of_unit_in(self, unit_id: int, year: int) -> list[Row]:
        """The unit's reports of events held in that year, newest first."""
        return list(
            self.conn.execute(
                select(REP)
                .where(REP.c.unit_id == unit_id, REP.c.held_on >= date(year, 1, 1), REP.c.held_on <= date(year, 12, 31))
                .order_by(REP.c.held_on.desc(), REP.c.id.desc())
            )
        )

    def add_version(self, report_id: int, *, data: dict, held_on: date, account_id: int, now: datetime) -> int:
        """An edit: the next version, the previous ones kept. Raises ReportReadOnly unless the
        report is (still) submitted: the status is checked by the same UPDATE that takes the
        version number, which also locks the row until the version is written."""
        number = REPORT_VERSIONS.next_version(
            self.conn, report_id, REP.c.status == ReportStatus.submitted, now=now, held_on=held_on
        )
        if number is None:
            raise ReportReadOnly(report_id, self._status(report_id))
        REPORT_VERSIONS.add(self.conn, report_id, number, data=data, account_id=account_id, now=now)
        return number

    def withdraw(self, report_id: int, now: datetime) -> None:
        """Taken back by the unit (kept, with its versions); ReportReadOnly unless submitted."""
        changed = self.conn.execute(
            REP.update()
            .where(REP.c.id == report_id, REP.c.status == ReportStatus.submitted)
            .values(status=ReportStatus.withdrawn, updated_at=now)
        ).rowcount
        if changed != 1:
            raise ReportReadOnly(report_id, self._status(report_id))

    def _status(self, report_id: int) -> str:
        return self.conn.execute(select(REP.c.status).where(REP.c.id == report_id)).scalar_one()

    def set_status(self, report_id: int, status: str, now: datetime) -> None:
        self.conn.execute(REP.update().where(REP.c.id == report_id).values(status=status, updated_at=now))

    def drop_open_commitments(self, report_id: int) -> None:
        """Before an edited dialogue's promises are stored again (answered ones stay)."""
        self.conn.execute(COM.delete().where(COM.c.report_id == report_id, COM.c.status == CommitmentStatus.open))

    # ---- a unit and its subtree (the drill-down, handlers/units.py) ---------------------------

    def _in_subtree(self, path: str, kind: str, year: int):
        return (
            REP.join(UNIT, UNIT.c.id == REP.c.unit_id),
            (
                UNIT.c.path.startswith(path, autoescape=True),
                REP.c.kind == kind,
                REP.c.held_on >= date(year, 1, 1),
                REP.c.held_on <= date(year, 12, 31),
            ),
        )

    def in_subtree(self, path: str, kind: str, year: int, *, offset: int, limit: int) -> list[Row]:
        """Reports of `kind` held in `year` by the units under `path` (the unit and its branches),
        newest first, each with its unit's name and code (`unit_name`, `unit_code`)."""
        joined, where = self._in_subtree(path, kind, year)
        stmt = (
            select(REP, UNIT.c.name.label("unit_name"), UNIT.c.code.label("unit_code"))
            .select_from(joined)
            .where(*where)
            .order_by(REP.c.held_on.desc(), REP.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(self.conn.execute(stmt))

    def count_in_subtree(self, path: str, kind: str, year: int) -> int:
        joined, where = self._in_subtree(path, kind, year)
        return self.conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()

    def commitments_in_subtree(self, path: str, *, offset: int, limit: int) -> list[Row]:
        """Commitments of the units under `path`, the newest dialogue first, each with the day of
        its dialogue (`held_on`), the report's status (`report_status`) and its unit's name."""
        stmt = (
            select(
                COM,
                REP.c.held_on,
                REP.c.status.label("report_status"),
                UNIT.c.name.label("unit_name"),
                UNIT.c.code.label("unit_code"),
            )
            .select_from(COM.join(REP, REP.c.id == COM.c.report_id).join(UNIT, UNIT.c.id == COM.c.unit_id))
            .where(UNIT.c.path.startswith(path, autoescape=True))
            .order_by(REP.c.held_on.desc(), COM.c.id)
            .offset(offset)
            .limit(limit)
        )
        return list(self.conn.execute(stmt))

    def count_commitments_in_subtree(self, path: str) -> int:
        stmt = (
            select(func.count())
            .select_from(COM.join(UNIT, UNIT.c.id == COM.c.unit_id))
            .where(UNIT.c.path.startswith(path, autoescape=True))
        )
        return self.conn.execute(stmt).scalar_one()
