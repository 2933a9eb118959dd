"""The audit trail of the org tree (models.OrgChange): units moved and renamed by the import,
merged by `chidoan org merge`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import OrgChange, table

CHANGE = table(OrgChange)


class OrgChanges:
    """The audit trail of the tree (models.OrgChange): appended, never updated."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, *, kind: str, unit_id: int, detail: dict[str, Any], by: int | None, now: datetime) -> None:
        self.conn.execute(CHANGE.insert().values(kind=kind, unit_id=unit_id, detail=detail, by=by, at=now))

    def of(self, unit_id: int) -> list[Row]:
        return list(self.conn.execute(select(CHANGE).where(CHANGE.c.unit_id == unit_id).order_by(CHANGE.c.id)))

    def all(self) -> list[Row]:
        return list(self.conn.execute(select(CHANGE).order_by(CHANGE.c.id)))
