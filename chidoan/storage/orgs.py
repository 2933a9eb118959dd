"""Org units: a tree with a materialised path, so a subtree is one prefix query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, and_, bindparam, func, literal, or_, select

from chidoan.i18n import fold
from chidoan.storage.models import OrgUnit, table
from chidoan.storage.rows import found, inserted_id

UNIT = table(OrgUnit)

# Built once: an import adds thousands of units, and building statements costs more than running them.
_INSERT = UNIT.insert()
_SET_PATH = UNIT.update().where(UNIT.c.id == bindparam("unit_id")).values(path=bindparam("new_path"))
_GET = select(UNIT).where(UNIT.c.id == bindparam("unit_id"))


class OrgUnits:
    def __init__(self, conn: Connection):
        self.conn = conn

    def by_code(self, code: str) -> Row | None:
        return self.conn.execute(select(UNIT).where(UNIT.c.code == code)).first()

    def one(self, unit_id: int) -> Row:
        """The org unit, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(unit_id), "org unit", unit_id)

    def get(self, unit_id: int) -> Row | None:
        return self.conn.execute(_GET, {"unit_id": unit_id}).first()

    def codes(self) -> dict[str, Row]:
        return {row.code: row for row in self.conn.execute(select(UNIT))}

    def count(self) -> int:
        return self.conn.execute(select(func.count()).select_from(UNIT)).scalar_one()

    def add(self, *, code: str, name: str, kind: str, parent: Row | None, reviews: bool, now: datetime) -> Row:
        values = {
            "code": code,
            "name": name,
            "folded_name": fold(name),
            "kind": kind,
            "parent_id": parent.id if parent else None,
            "path": "/",
            "reviews": reviews,
            "created_at": now,
        }
        unit_id = inserted_id(self.conn.execute(_INSERT, values))
        path = f"{parent.path if parent else '/'}{unit_id}/"
        self.conn.execute(_SET_PATH, {"unit_id": unit_id, "new_path": path})
        return self.one(unit_id)

    def update(self, unit_id: int, **values) -> None:
        if "name" in values:
            values["folded_name"] = fold(values["name"])
        self.conn.execute(UNIT.update().where(UNIT.c.id == unit_id).values(**values))

    def move(self, unit: Row, parent: Row | None) -> int:
        """Put `unit` under `parent` (None: a root): its path and every descendant's rewritten in
        one UPDATE, the old prefix replaced by the new. The caller checks levels and cycles (a
        unit never goes under itself or its own subtree). Returns the rows whose path changed."""
        old = unit.path
        new = f"{parent.path if parent else '/'}{unit.id}/"
        assert not new.startswith(old), f"unit {unit.id} cannot go under its own subtree"
        self.conn.execute(UNIT.update().where(UNIT.c.id == unit.id).values(parent_id=parent.id if parent else None))
        return self.rebase(old, new)

    def rebase(self, old: str, new: str, *, keep_root: bool = False) -> int:
        """Every path starting with `old` starts with `new` instead (SQLite and PostgreSQL alike:
        || and substr); `keep_root` leaves the row whose path is `old` itself as it is."""
        inside = UNIT.c.path.startswith(old, autoescape=True)
        if keep_root:
            inside = and_(inside, UNIT.c.path != old)
        tail = func.substr(UNIT.c.path, len(old) + 1)
        stmt = UNIT.update().where(inside).values(path=literal(new).concat(tail))
        return self.conn.execute(stmt).rowcount

    def children(self, unit: Row) -> list[Row]:
        return list(self.conn.execute(select(UNIT).where(UNIT.c.parent_id == unit.id).order_by(UNIT.c.id)))

    def ancestors(self, unit: Row) -> list[Row]:
        """From the root down to the unit's parent."""
        ids = [int(part) for part in unit.path.strip("/").split("/")[:-1] if part]
        if not ids:
            return []
        rows = {row.id: row for row in self.conn.execute(select(UNIT).where(UNIT.c.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    def reviewer(self, unit: Row) -> Row | None:
        """'The district' of a unit: the nearest ancestor that reviews, whatever its depth."""
        for ancestor in reversed(self.ancestors(unit)):
            if ancestor.reviews:
                return ancestor
        return None

    @staticmethod
    def contains(outer: Row, inner: Row) -> bool:
        return inner.path.startswith(outer.path)

    def search(self, roots: list[Row], text: str, *, limit: int = 20) -> list[Row]:
        """Units inside the roots' subtrees whose code is `text` (any case) or whose name holds
        its words without accents ("phi thong" finds "Đoàn xã Phi Thông"), open ones first, then
        by path; at most `limit`."""
        words = fold(text).split()
        if not roots or not words:
            return []
        inside = or_(*(UNIT.c.path.startswith(root.path, autoescape=True) for root in roots))
        by_code = func.upper(UNIT.c.code) == text.strip().upper()
        by_name = and_(*(UNIT.c.folded_name.contains(word, autoescape=True) for word in words))
        stmt = (
            select(UNIT)
            .where(inside, or_(by_code, by_name))
            .order_by(by_code.desc(), UNIT.c.closed_on.is_not(None), UNIT.c.path)
            .limit(limit)
        )
        return list(self.conn.execute(stmt))

    def subtree(self, unit: Row) -> list[Row]:
        return list(
            self.conn.execute(
                select(UNIT).where(UNIT.c.path.startswith(unit.path, autoescape=True)).order_by(UNIT.c.path)
            )
        )

    def subtree_page(self, unit: Row, *, offset: int, limit: int) -> list[Row]:
        """One page of the unit's subtree (itself first), each unit after its parent: ordered by
        path, so siblings come in the order they were created (imported)."""
        stmt = (
            select(UNIT)
            .where(UNIT.c.path.startswith(unit.path, autoescape=True))
            .order_by(UNIT.c.path)
            .offset(offset)
            .limit(limit)
        )
        return list(self.conn.execute(stmt))

    def outline(self, unit: Row) -> list[Row]:
        """The unit's subtree in its lightest form (id, parent_id, kind, name), to order a listing."""
        stmt = select(UNIT.c.id, UNIT.c.parent_id, UNIT.c.kind, UNIT.c.name).where(
            UNIT.c.path.startswith(unit.path, autoescape=True)
        )
        return list(self.conn.execute(stmt))

    def many(self, ids: list[int]) -> dict[int, Row]:
        return {row.id: row for row in self.conn.execute(select(UNIT).where(UNIT.c.id.in_(ids)))} if ids else {}

    def subtree_count(self, unit: Row) -> int:
        stmt = select(func.count()).select_from(UNIT).where(UNIT.c.path.startswith(unit.path, autoescape=True))
        return self.conn.execute(stmt).scalar_one()

    def children_count(self, unit_id: int) -> int:
        return self.conn.execute(select(func.count()).select_from(UNIT).where(UNIT.c.parent_id == unit_id)).scalar_one()

    @staticmethod
    def is_open(unit: Row) -> bool:
        """Not merged away nor closed: the only units invites are issued for and redeemed to."""
        return unit.closed_on is None and unit.merged_into is None

    def successor(self, unit: Row) -> Row | None:
        """The open unit a merged-away unit's work went to (X into Y, Y later into Z: Z); None
        for an open unit or one closed without a merger."""
        seen = {unit.id}
        while unit.merged_into is not None and unit.merged_into not in seen:
            following = self.get(unit.merged_into)
            if following is None:
                return None
            if self.is_open(following):
                return following
            seen.add(following.id)
            unit = following
        return None

    def merged_in(self, unit_id: int) -> list[Row]:
        """The units folded into this one (org_unit.merged_into), oldest merger first."""
        stmt = select(UNIT).where(UNIT.c.merged_into == unit_id).order_by(UNIT.c.closed_on, UNIT.c.id)
        return list(self.conn.execute(stmt))
