"""A versioned record: one row that counts its versions (`version`, the newest) and a table of
its versions, each the whole content as it was submitted (`data`, by whom, when), kept for the
history. Registered plans and reports of events are both kept this way.

The next number is taken by the UPDATE of the record itself, which checks whatever must still
hold (not reviewed, still at the version the edit began from, ...) and locks the row until the
version is written: a review or another version that lands meanwhile is never slipped past."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, select

from chidoan.storage.rows import found


@dataclass(frozen=True)
class Versioned:
    record: Table  # the record: id, version, updated_at
    versions: Table  # its versions: <key>, version, data, submitted_by, submitted_at
    key: str  # the versions' column naming the record
    name: str  # what a missing version is called in errors

    def next_version(
        self, conn: Connection, record_id: int, *still: ColumnElement[bool], now: datetime, **values: Any
    ) -> int | None:
        """The record's next version number, taken if everything in `still` holds (with `values`
        written alongside); None, with nothing written, if not."""
        record = self.record
        return conn.execute(
            record.update()
            .where(record.c.id == record_id, *still)
            .values(version=record.c.version + 1, updated_at=now, **values)
            .returning(record.c.version)
        ).scalar_one_or_none()

    def add(
        self, conn: Connection, record_id: int, number: int, *, data: dict, account_id: int, now: datetime, **extra: Any
    ) -> None:
        """The content of version `number` (numbered by `next_version`, or 1 with a new record)."""
        conn.execute(
            self.versions.insert().values(
                {self.key: record_id, "version": number, "data": data, "submitted_by": account_id, "submitted_at": now}
                | extra
            )
        )

    def one(self, conn: Connection, record_id: int, number: int) -> Row:
        """A version, which must exist (the record's `version` counts them)."""
        row = conn.execute(
            select(self.versions).where(self.versions.c[self.key] == record_id, self.versions.c.version == number)
        ).first()
        return found(row, self.name, (record_id, number))

    def history(self, conn: Connection, record_id: int) -> list[Row]:
        """Every version, oldest first."""
        of = self.versions.c[self.key]
        return list(conn.execute(select(self.versions).where(of == record_id).order_by(self.versions.c.version)))

    def latest_data(self, conn: Connection, record_id: int) -> dict:
        of = self.versions.c[self.key]
        return conn.execute(
            select(self.versions.c.data).where(of == record_id).order_by(self.versions.c.version.desc()).limit(1)
        ).scalar_one()
