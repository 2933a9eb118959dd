"""Registered plans: one row per unit, programme and year; every submission a new version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import ItemRating, Registration, RegistrationStatus, RegistrationVersion, table
from chidoan.storage.rows import found
from chidoan.storage.versions import Versioned

REG = table(Registration)
REG_VER = table(RegistrationVersion)
RATING = table(ItemRating)
REGISTRATION_VERSIONS = Versioned(REG, REG_VER, key="registration_id", name="plan version")


class RegistrationRefused(Exception):
    """A submission that may not become the next version; `current` is the registration now."""

    def __init__(self, current: Row):
        super().__init__(f"registration {current.id} is {current.status} at version {current.version}")
        self.current = current


class RegistrationReadOnly(RegistrationRefused):
    """The district has reviewed the plan: no new version."""


class NewerVersion(RegistrationRefused):
    """Someone else's version was stored since this one was started from."""


class StatusChanged(RegistrationRefused):
    """The reviewing union returned the plan for correction (or took back nothing else) since this
    edit was started: the edit was of the whole plan, the correction is of the returned parts."""


class Registrations:
    def __init__(self, conn: Connection):
        self.conn = conn

    def find(self, unit_id: int, programme: str, year: int) -> Row | None:
        return self.conn.execute(
            select(REG).where(REG.c.unit_id == unit_id, REG.c.programme == programme, REG.c.year == year)
        ).first()

    def one(self, registration_id: int) -> Row:
        """The registration, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(registration_id), "registration", registration_id)

    def get(self, registration_id: int) -> Row | None:
        return self.conn.execute(select(REG).where(REG.c.id == registration_id)).first()

    def open(self, unit_id: int, programme: str, year: int, now: datetime) -> Row:
        """The unit's registration for that year, created as a draft the first time."""
        row = self.find(unit_id, programme, year)
        if row is None:
            self.conn.execute(
                REG.insert().values(
                    unit_id=unit_id,
                    programme=programme,
                    year=year,
                    status=RegistrationStatus.draft,
                    version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            row = self.find(unit_id, programme, year)
        return found(row, "registration", (unit_id, programme, year))

    def of_unit(self, unit_id: int) -> list[Row]:
        return list(
            self.conn.execute(select(REG).where(REG.c.unit_id == unit_id).order_by(REG.c.year.desc(), REG.c.id))
        )

    def set_editor(self, registration_id: int, account_id: int | None, now: datetime) -> None:
        self.conn.execute(
            REG.update()
            .where(REG.c.id == registration_id)
            .values(editing_by=account_id, editing_since=now if account_id else None)
        )

    def add_version(
        self,
        registration: Row,
        *,
        data: dict,
        account_id: int,
        now: datetime,
        on_time: bool,
        document_id: int,
        expected_status: str | None = None,
    ) -> int:
        """Store a submission as the version after `registration`'s; returns its number.

        The same UPDATE checks that the plan is not reviewed and still at that version (and, given
        `expected_status`, still in the status the edit was started in), and locks the row until
        the version is written: RegistrationReadOnly, NewerVersion or StatusChanged otherwise, with
        nothing written, even when the review or the other version landed a moment ago.

        The year-end ratings of the tasks (item_rating, by task position) were of the version
        rated: they go with it (the review_action rows keep the audit trail of them)."""
        first = registration.first_submitted_at is None
        status_check = (
            REG.c.status == expected_status
            if expected_status is not None
            else REG.c.status != RegistrationStatus.reviewed
        )
        number = REGISTRATION_VERSIONS.next_version(
            self.conn,
            registration.id,
            REG.c.version == registration.version,
            REG.c.status != RegistrationStatus.reviewed,
            status_check,
            now=now,
            status=RegistrationStatus.submitted,
            first_submitted_at=now if first else registration.first_submitted_at,
            on_time=on_time if first else registration.on_time,
            editing_by=None,
            editing_since=None,
        )
        if number is None:
            current = self.conn.execute(select(REG).where(REG.c.id == registration.id)).one()
            if current.status == RegistrationStatus.reviewed:
                raise RegistrationReadOnly(current)
            if current.version == registration.version:
                raise StatusChanged(current)
            raise NewerVersion(current)
        self.conn.execute(RATING.delete().where(RATING.c.registration_id == registration.id))
        REGISTRATION_VERSIONS.add(
            self.conn,
            registration.id,
            number,
            data=data,
            account_id=account_id,
            now=now,
            on_time=on_time,
            document_id=document_id,
        )
        return number

    def version(self, registration_id: int, number: int) -> Row:
        """A submitted version, which must exist (a registration's `version` counts them)."""
        return REGISTRATION_VERSIONS.one(self.conn, registration_id, number)

    def versions(self, registration_id: int) -> list[Row]:
        return REGISTRATION_VERSIONS.history(self.conn, registration_id)
