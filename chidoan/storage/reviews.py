"""Reviews of the units' work by their reviewing union: accepting, returning for correction,
rating each registered task at year-end and the unit's result; every action a `review_action`.

Each change of a registration's or report's state is one UPDATE that names the state it was
shown in (status, version, result): a button pressed twice, or pressed after another reviewer
acted, changes nothing and raises `ReviewConflict` with the row as it is now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Connection, Row, Table, func, or_, select
from sqlalchemy.exc import IntegrityError

from chidoan.storage.models import (
    ItemRating,
    OrgUnit,
    Registration,
    RegistrationStatus,
    Report,
    ReportStatus,
    ReviewAction,
    table,
)
from chidoan.storage.rows import among, inserted_id

REG = table(Registration)
REP = table(Report)
UNIT = table(OrgUnit)
ACTION = table(ReviewAction)
RATING = table(ItemRating)

# What a reviewer may do to a registration in each state.
ACCEPTABLE = (RegistrationStatus.submitted, RegistrationStatus.returned)
RATEABLE = (RegistrationStatus.submitted, RegistrationStatus.reviewed)


class ReviewConflict(Exception):
    """The registration or report is no longer in the state the action was offered in."""

    def __init__(self, current: Row | None):
        super().__init__("changed meanwhile")
        self.current = current


class Reviews:
    def __init__(self, conn: Connection):
        self.conn = conn

    # ---- the queue --------------------------------------------------------------------------

    @staticmethod
    def _inside(roots: Iterable[Row]):
        return or_(*(UNIT.c.path.startswith(root.path, autoescape=True) for root in roots))

    def _page(self, table: Table, where: list, offset: int, limit: int) -> tuple[int, list[Row]]:
        """(how many rows of `table` (registrations or reports) match in all, the page), each row
        with its unit's code and name, the oldest (latest change) first."""
        joined = table.join(UNIT, UNIT.c.id == table.c.unit_id)
        total = self.conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
        rows = self.conn.execute(
            select(table, UNIT.c.code.label("unit_code"), UNIT.c.name.label("unit_name"))
            .select_from(joined)
            .where(*where)
            .order_by(table.c.updated_at, table.c.id)
            .offset(offset)
            .limit(limit)
        )
        return total, list(rows)

    def waiting(
        self,
        roots: list[Row],
        *,
        status: str,
        from_year: int,
        rated: bool | None = None,
        offset: int = 0,
        limit: int = 8,
    ) -> tuple[int, list[Row]]:
        """Registrations in the roots' subtrees with `status`, for plan years from `from_year`,
        the oldest (latest submission) first: (how many in all, the page). `rated=False`: only
        those without a year-end result yet."""
        if not roots:
            return 0, []
        where = [self._inside(roots), REG.c.status == status, REG.c.year >= from_year]
        if rated is False:
            where.append(REG.c.result.is_(None))
        return self._page(REG, where, offset, limit)

    def waiting_reports(
        self, roots: list[Row], *, since: date, offset: int = 0, limit: int = 8
    ) -> tuple[int, list[Row]]:
        """Submitted meeting and dialogue reports (not reviewed) of events since `since`, in the
        roots' subtrees, the oldest first."""
        if not roots:
            return 0, []
        where = [self._inside(roots), REP.c.status == ReportStatus.submitted, REP.c.held_on >= since]
        return self._page(REP, where, offset, limit)

    # ---- changing state (each checks the state it was shown in) -------------------------------

    def _registration(self, registration_id: int) -> Row | None:
        return self.conn.execute(select(REG).where(REG.c.id == registration_id)).first()

    def _change(self, registration: Row, allowed: Iterable[str], now: datetime, **values) -> None:
        changed = self.conn.execute(
            REG.update()
            .where(
                REG.c.id == registration.id,
                REG.c.version == registration.version,
                REG.c.status == registration.status,
                REG.c.status.in_([str(s) for s in allowed]),
                REG.c.result.is_(None) if registration.result is None else REG.c.result == registration.result,
            )
            .values(updated_at=now, **values)
        ).rowcount
        if changed != 1:
            raise ReviewConflict(self._registration(registration.id))

    def accept(self, registration: Row, *, account_id: int, now: datetime) -> None:
        """Submitted (or returned) -> reviewed: read-only for the unit from now on."""
        self._change(registration, ACCEPTABLE, now, status=RegistrationStatus.reviewed)
        self.record(
            registration.unit_id,
            account_id,
            "accept",
            now,
            registration_id=registration.id,
            detail={"version": registration.version},
        )

    def give_back(self, registration: Row, *, parts: list[str], comment: str, account_id: int, now: datetime) -> None:
        """Submitted -> returned for correction: only `parts` reopen for the unit."""
        self._change(registration, (RegistrationStatus.submitted,), now, status=RegistrationStatus.returned)
        self.record(
            registration.unit_id,
            account_id,
            "return",
            now,
            registration_id=registration.id,
            detail={"parts": parts, "comment": comment, "version": registration.version},
        )

    def last_return(self, registration_id: int) -> Row | None:
        """The newest "return" of the registration (what is reopened while it is returned)."""
        return self.conn.execute(
            select(ACTION)
            .where(ACTION.c.registration_id == registration_id, ACTION.c.action == "return")
            .order_by(ACTION.c.id.desc())
            .limit(1)
        ).first()

    def rate(
        self,
        registration: Row,
        *,
        task: int,
        item: str,
        result: str,
        seen: str | None,
        note: str | None,
        account_id: int,
        now: datetime,
    ) -> None:
        """Rate one task (its position in the registration's newest version). `seen`: the task's
        result when the buttons were shown (None: not rated); a rating since raises
        ReviewConflict (a second press, or another reviewer).

        The registration's row is locked while the rating is written, so a new version (which
        deletes the ratings of the old, Registrations.add_version) comes either before, and the
        rating is refused, or after, and deletes it with the rest."""
        current = self.conn.execute(select(REG).where(REG.c.id == registration.id).with_for_update()).first()
        if (
            current is None
            or current.version != registration.version
            or current.status not in RATEABLE
            or current.result != registration.result
        ):
            raise ReviewConflict(current)
        values = {"item": item, "result": result, "note": note, "rated_by": account_id, "rated_at": now}
        if seen is None:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(RATING.insert().values(registration_id=registration.id, task=task, **values))
            except IntegrityError:  # rated a moment ago
                raise ReviewConflict(current) from None
        else:
            changed = self.conn.execute(
                RATING.update()
                .where(RATING.c.registration_id == registration.id, RATING.c.task == task, RATING.c.result == seen)
                .values(**values)
            ).rowcount
            if changed != 1:
                raise ReviewConflict(current)
        self.record(
            registration.unit_id,
            account_id,
            "rate",
            now,
            registration_id=registration.id,
            detail={"task": task, "item": item, "result": result, "version": registration.version},
            note=note,
        )

    def set_result(
        self,
        registration: Row,
        *,
        proposed: str,
        result: str,
        note: str | None,
        account_id: int,
        now: datetime,
    ) -> None:
        """The unit's year-end result (the rule's proposal, or overridden with a note); the
        registration becomes reviewed."""
        self._change(registration, RATEABLE, now, result=result, status=RegistrationStatus.reviewed)
        self.record(
            registration.unit_id,
            account_id,
            "result",
            now,
            registration_id=registration.id,
            detail={"proposed": proposed, "result": result, "overridden": proposed != result},
            note=note,
        )

    def accept_report(self, report: Row, *, account_id: int, now: datetime) -> None:
        changed = self.conn.execute(
            REP.update()
            .where(REP.c.id == report.id, REP.c.version == report.version, REP.c.status == ReportStatus.submitted)
            .values(status=ReportStatus.reviewed, updated_at=now)
        ).rowcount
        if changed != 1:
            raise ReviewConflict(self.conn.execute(select(REP).where(REP.c.id == report.id)).first())
        self.record(report.unit_id, account_id, "accept", now, report_id=report.id, detail={"version": report.version})

    def record(
        self,
        unit_id: int,
        account_id: int,
        action: str,
        now: datetime,
        *,
        registration_id: int | None = None,
        report_id: int | None = None,
        detail: dict | None = None,
        note: str | None = None,
    ) -> int:
        return inserted_id(
            self.conn.execute(
                ACTION.insert().values(
                    unit_id=unit_id,
                    registration_id=registration_id,
                    report_id=report_id,
                    account_id=account_id,
                    action=action,
                    detail=detail or {},
                    note=note,
                    at=now,
                )
            )
        )

    # ---- reading (also for the documents and exports) ----------------------------------------

    def actions_of(self, unit_ids: Iterable[int] | None = None, *, registration_id: int | None = None) -> list[Row]:
        """Review actions, oldest first: of a registration, or of units (their registrations'
        and reports' alike)."""
        stmt = select(ACTION).order_by(ACTION.c.at, ACTION.c.id)
        if registration_id is not None:
            stmt = stmt.where(ACTION.c.registration_id == registration_id)
        elif unit_ids is not None:
            ids = list(unit_ids)
            if not ids:
                return []
            stmt = stmt.where(among(ACTION.c.unit_id, ids))
        else:
            raise ValueError("actions_of needs unit ids or a registration id")
        return list(self.conn.execute(stmt))

    def ratings_of(self, registration_ids: Iterable[int]) -> dict[int, list[Row]]:
        """The tasks' ratings of each registration, by task position (of its current version: a
        new version deletes the ratings of the old); registrations without a rating are left out."""
        ids = list(registration_ids)
        found: dict[int, list[Row]] = {}
        if not ids:
            return found
        stmt = (
            select(RATING).where(among(RATING.c.registration_id, ids)).order_by(RATING.c.registration_id, RATING.c.task)
        )
        for row in self.conn.execute(stmt):
            found.setdefault(row.registration_id, []).append(row)
        return found
