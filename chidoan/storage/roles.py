"""Roles that accounts hold on units; revoked rows stay as history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import OrgUnit, RoleAssignment, table
from chidoan.storage.rows import inserted_id

ROLE = table(RoleAssignment)
UNIT = table(OrgUnit)


class Roles:
    def __init__(self, conn: Connection):
        self.conn = conn

    def active_of(self, account_id: int) -> list[Row]:
        """The account's live roles, each with its unit's columns."""
        return list(
            self.conn.execute(
                select(
                    ROLE.c.id,
                    ROLE.c.role,
                    ROLE.c.granted_at,
                    UNIT.c.id.label("unit_id"),
                    UNIT.c.code,
                    UNIT.c.name,
                    UNIT.c.kind,
                    UNIT.c.path,
                )
                .join(UNIT, UNIT.c.id == ROLE.c.unit_id)
                .where(ROLE.c.account_id == account_id, ROLE.c.revoked_at.is_(None))
                .order_by(ROLE.c.id)
            )
        )

    def holders(self, unit_id: int, role: str) -> list[Row]:
        return list(
            self.conn.execute(
                select(ROLE).where(ROLE.c.unit_id == unit_id, ROLE.c.role == role, ROLE.c.revoked_at.is_(None))
            )
        )

    def holders_of(self, unit_ids: set[int], role: str) -> dict[int, list[int]]:
        """The accounts holding `role` on each of these units (as `holders`, for many units at once)."""
        stmt = (
            select(ROLE.c.unit_id, ROLE.c.account_id)
            .where(ROLE.c.unit_id.in_(sorted(unit_ids)), ROLE.c.role == role, ROLE.c.revoked_at.is_(None))
            .order_by(ROLE.c.id)
        )
        held: dict[int, list[int]] = {}
        for unit_id, account_id in self.conn.execute(stmt):
            held.setdefault(unit_id, []).append(account_id)
        return held

    def accounts_holding(self, role: str) -> list[int]:
        """Every account that holds `role` on some unit (the admins, to be told of a fault)."""
        stmt = select(ROLE.c.account_id).where(ROLE.c.role == role, ROLE.c.revoked_at.is_(None)).distinct()
        return sorted(self.conn.execute(stmt).scalars())

    def grant(self, *, account_id: int, unit_id: int, role: str, invite_id: int | None, now: datetime) -> int:
        return inserted_id(
            self.conn.execute(
                ROLE.insert().values(
                    account_id=account_id, unit_id=unit_id, role=role, invite_id=invite_id, granted_at=now
                )
            )
        )

    def revoke(self, assignment_id: int, *, reason: str, now: datetime) -> None:
        self.conn.execute(
            ROLE.update()
            .where(ROLE.c.id == assignment_id, ROLE.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    def history(self, unit_id: int) -> list[Row]:
        return list(self.conn.execute(select(ROLE).where(ROLE.c.unit_id == unit_id).order_by(ROLE.c.id)))
