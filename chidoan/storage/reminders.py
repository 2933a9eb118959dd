"""Reminder rows (one per obligation, account and stage; see models.Reminder) and the moves of
reviewing units' deadlines."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import (
    DeadlineChange,
    NudgeRequest,
    ObligationMet,
    Outbox,
    OutboxStatus,
    Reminder,
    table,
)
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import among
from chidoan.storage.wakeup import notify

REM = table(Reminder)
MOVES = table(DeadlineChange)
MET = table(ObligationMet)
NUDGE = table(NudgeRequest)
OUT = table(Outbox)


_COLUMNS = ("obligation", "account_id", "stage", "unit_id", "due_on", "created_at", "snoozed_until")
_INSERT_ONCE = {
    d.dialect.name: Prepared(
        d.insert(REM)
        .values({c: bindparam(c) for c in _COLUMNS})
        .on_conflict_do_nothing(index_elements=["obligation", "account_id", "stage"])
    )
    for d in (sqlite, postgresql)
}


def outbox_key(obligation: str, account_id: int, stage: str) -> str:
    """The dedupe key of a reminder's outbox row."""
    return f"reminder:{obligation}:{account_id}:{stage}"


class Reminders:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add_many(self, rows: list[dict]) -> None:
        """Insert reminders; one that exists already (another sweep, another worker) is skipped."""
        if rows:
            _INSERT_ONCE[self.conn.dialect.name].many(self.conn, rows)

    def of_obligations(self, keys: list[str]) -> dict[tuple[str, int], list[Row]]:
        """The reminders already made for these obligations, by (obligation, account), oldest first."""
        found: dict[tuple[str, int], list[Row]] = defaultdict(list)
        if keys:
            stmt = select(REM).where(among(REM.c.obligation, keys)).order_by(REM.c.id)
            for row in self.conn.execute(stmt):
                found[(row.obligation, row.account_id)].append(row)
        return found

    def snooze(self, obligation: str, account_id: int, until: datetime) -> Row | None:
        """ "Remind me later" on the newest reminder of this obligation to this account. Returns that
        reminder as it was (None: there is none); it is snoozed only when it was not already."""
        rows = self.of_obligations([obligation]).get((obligation, account_id))
        if not rows:
            return None
        newest = rows[-1]
        if newest.snoozed_until is None:
            self.conn.execute(REM.update().where(REM.c.id == newest.id).values(snoozed_until=until))
        return newest

    def met(self, obligation: str, now: datetime) -> int:
        """The obligation is met: its reminders not sent yet (queued, held, or moved to another
        app) are cancelled at once, and one composed before now but not stored yet will be
        dropped when it is (`met_since`). Returns how many were cancelled."""
        insert = (postgresql if self.conn.dialect.name == "postgresql" else sqlite).insert(MET)
        self.conn.execute(
            insert.values(obligation=obligation, met_at=now).on_conflict_do_update(
                index_elements=["obligation"], set_={"met_at": now}
            )
        )
        return self._cancel(_keyed(self.conn, f"reminder:{obligation}:"), [OutboxStatus.pending, OutboxStatus.held])

    def cancel(self, obligation: str, statuses: list[str]) -> int:
        """Cancel the obligation's reminders in these outbox statuses (a unit merged away owes
        nothing any more); the reminder rows stay as history. Returns how many."""
        return self._cancel(_keyed(self.conn, f"reminder:{obligation}:"), statuses)

    def met_since(self, obligations: list[str]) -> dict[str, datetime]:
        """When each of these obligations was last met, if ever."""
        if not obligations:
            return {}
        stmt = select(MET.c.obligation, MET.c.met_at).where(among(MET.c.obligation, obligations))
        return {row.obligation: row.met_at for row in self.conn.execute(stmt)}

    def supersede_held(self, obligation: str, account_id: int, keep: str) -> int:
        """A newer reminder of the obligation is held for the account (out of reach for now):
        the older ones held are cancelled, so they are not all sent at once when the person
        writes again, only the newest."""
        prefix = f"reminder:{obligation}:{account_id}:"
        return self._cancel(_keyed(self.conn, prefix) & (OUT.c.dedupe_key != keep), [OutboxStatus.held])

    def _cancel(self, which, statuses: list[str]) -> int:
        stmt = OUT.update().where(which, OUT.c.status.in_(statuses)).values(status=OutboxStatus.cancelled)
        return self.conn.execute(stmt).rowcount


def _keyed(conn: Connection, prefix: str):
    """Outbox rows whose dedupe key starts with `prefix` (a reminder moved to another app keeps
    its key + "~<app>"). On SQLite as a range, which the unique index serves (LIKE would not; its
    text compares byte by byte); on PostgreSQL, whose collation may not, as LIKE."""
    if conn.dialect.name == "sqlite":
        return (OUT.c.dedupe_key >= prefix) & (OUT.c.dedupe_key < prefix + "\uffff")
    return OUT.c.dedupe_key.startswith(prefix, autoescape=True)


class DeadlineChanges:
    def __init__(self, conn: Connection):
        self.conn = conn

    def current(self) -> dict[tuple[int, str, str, int], date]:
        """The newest move of each (reviewing unit, obligation, programme, year)."""
        moved: dict[tuple[int, str, str, int], date] = {}
        for row in self.conn.execute(select(MOVES).order_by(MOVES.c.id)):
            moved[(row.reviewer_id, row.obligation, row.programme, row.year)] = row.due_on
        return moved

    def move(
        self, *, reviewer_id: int, obligation: str, programme: str, year: int, due_on: date, by: int, now: datetime
    ) -> None:
        self.conn.execute(
            MOVES.insert().values(
                reviewer_id=reviewer_id,
                obligation=obligation,
                programme=programme,
                year=year,
                due_on=due_on,
                changed_by=by,
                changed_at=now,
            )
        )

    def newest(self, reviewer_id: int, obligation: str, programme: str, year: int) -> Row | None:
        """The move in force of this deadline (who, when, to what), None if it was never moved."""
        stmt = (
            select(MOVES)
            .where(
                MOVES.c.reviewer_id == reviewer_id,
                MOVES.c.obligation == obligation,
                MOVES.c.programme == programme,
                MOVES.c.year == year,
            )
            .order_by(MOVES.c.id.desc())
            .limit(1)
        )
        return self.conn.execute(stmt).first()

    def history(self, reviewer_id: int) -> list[Row]:
        return list(self.conn.execute(select(MOVES).where(MOVES.c.reviewer_id == reviewer_id).order_by(MOVES.c.id)))


class NudgeRequests:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, *, unit_id: int, account_id: int, kind: str, now: datetime) -> None:
        self.conn.execute(NUDGE.insert().values(unit_id=unit_id, account_id=account_id, kind=kind, created_at=now))
        notify(self.conn, "nudges")

    def pending(self) -> list[Row]:
        return list(self.conn.execute(select(NUDGE).where(NUDGE.c.done_at.is_(None)).order_by(NUDGE.c.id)))

    def done(self, request_id: int, now: datetime) -> None:
        self.conn.execute(NUDGE.update().where(NUDGE.c.id == request_id).values(done_at=now))
