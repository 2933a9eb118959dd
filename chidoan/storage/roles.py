"""Roles that accounts hold on units; revoked rows stay as history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import OrgUnit, RoleAssignment, table
from chidoan.storage.rows import inserted_id

R = table(RoleAssignment)
U = table(OrgUnit)


class Roles:
    def __init__(self, conn: Connection):
        self.conn = conn

    def active_of(self, account_id: int) -> list[Row]:
        """The account's live roles, each with its unit's columns."""
        return list(
            self.conn.execute(
                select(
                    R.c.id, R.c.role, R.c.granted_at, U.c.id.label("unit_id"), U.c.code, U.c.name, U.c.kind, U.c.path
                )
                .join(U, U.c.id == R.c.unit_id)
                .where(R.c.account_id == account_id, R.c.revoked_at.is_(None))
                .order_by(R.c.id)
            )
        )

    def holders(self, unit_id: int, role: str) -> list[Row]:
        return list(
            self.conn.execute(select(R).where(R.c.unit_id == unit_id, R.c.role == role, R.c.revoked_at.is_(None)))
        )

    def accounts_holding(self, role: str) -> list[int]:
        """Every account that holds `role` on some unit (the admins, to be told of a fault)."""
        stmt = select(R.c.account_id).where(R.c.role == role, R.c.revoked_at.is_(None)).distinct()
        return sorted(self.conn.execute(stmt).scalars())

    def grant(self, *, account_id: int, unit_id: int, role: str, invite_id: int | None, now: datetime) -> int:
        return inserted_id(
            self.conn.execute(
                R.insert().values(
                    account_id=account_id, unit_id=unit_id, role=role, invite_id=invite_id, granted_at=now
                )
            )
        )

    def revoke(self, assignment_id: int, *, reason: str, now: datetime) -> None:
        self.conn.execute(
            R.update()
            .where(R.c.id == assignment_id, R.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    def history(self, unit_id: int) -> list[Row]:
        return list(self.conn.execute(select(R).where(R.c.unit_id == unit_id).order_by(R.c.id)))
