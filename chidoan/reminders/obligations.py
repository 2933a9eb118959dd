"""What each unit owes, and by when: the deadline calendar, read from the programme files and
from the deadlines reviewing units moved (`/hanchot`).

- plan: a base unit registers its plan for year Y before the programme's registration day
  (15/10 of Y-1); open while no version is submitted.
- meeting: a branch reports its meeting of month M before day `meeting_report_before_day` of
  M+1; open while no report of a meeting held in M (withdrawn ones do not count).
- dialogue: a base unit reports a dialogue held in year Y before `dialogue_due` of Y.
- commitment: a leader's commitment from a dialogue report, followed up from its due day;
  open until the secretary answers the follow-up.

Every due date here is the first late day, as the programme files say it ("before 15/10").

When an obligation starts (CHIDOAN_OBLIGATIONS_FROM, see the README): a unit owes an
obligation only if it is due after the unit's start: the day its first secretary or deputy
was bound (a whole province is imported at once, so the import date says nothing), or, for a
unit nobody has joined yet, the province's season start `obligations_from` when it is set (then
the unit is listed for its district as having nobody to remind); without it such a unit owes
nothing yet. So a unit that joins in November is not chased for the plan due in October.
`owes` is that rule and `start_of` a unit's start; /trangthai asks the same two.

A reviewing unit may move a plan or dialogue deadline for the units it reviews directly (those
whose nearest reviewing ancestor it is) by at most `MAX_MOVE` from the programme's day.

Units are read in chunks of ids (`open_obligations`), a few queries a chunk, so a sweep over a
whole province never holds the database for long.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import Row, select

from chidoan.programmes.loader import Programme, programme_for
from chidoan.reminders.policy import Policy
from chidoan.storage.models import (
    Commitment,
    CommitmentStatus,
    OrgUnit,
    Registration,
    Report,
    ReportKind,
    ReportStatus,
    Role,
    RoleAssignment,
    UnitKind,
    table,
)
from chidoan.storage.uow import UnitOfWork

U = table(OrgUnit)
R = table(RoleAssignment)
REG = table(Registration)
REP = table(Report)
COM = table(Commitment)

OWING_KINDS = (UnitKind.base_unit, UnitKind.branch)
MOVABLE = ("plan", "dialogue")  # the deadlines a reviewing unit may move (yearly ones)
MAX_MOVE = timedelta(days=120)  # how far from the programme's day a deadline may be moved


def plan_key(programme: str, year: int, unit_id: int) -> str:
    return f"plan:{programme}:{year}:{unit_id}"


def meeting_key(unit_id: int, held_on: date) -> str:
    return f"meeting:{unit_id}:{held_on.year}-{held_on.month:02d}"


def dialogue_key(unit_id: int, year: int) -> str:
    return f"dialogue:{unit_id}:{year}"


def commitment_key(commitment_id: int) -> str:
    return f"commitment:{commitment_id}"


@dataclass(frozen=True)
class Obligation:
    key: str  # see models.Reminder
    kind: str  # plan | meeting | dialogue | commitment
    unit: Row
    due: date  # the first late day
    period: str  # "2027" (plan year, dialogue year), "2026-11" (meeting month), commitment id
    recipients: tuple[int, ...]  # the unit's secretaries, else its deputies; () when nobody is bound
    programme: Programme | None = None
    draft: bool = False  # a plan started and not sent
    commitment: Row | None = None


@dataclass
class Calendar:
    programmes: dict[str, Programme]
    policy: Policy
    tz: tzinfo
    obligations_from: date | None = None
    reviewing: set[int] = field(default_factory=set)  # ids of the units that review
    moved: dict[tuple[int, str, str, int], date] = field(default_factory=dict)

    @classmethod
    def load(cls, uow: UnitOfWork, programmes: dict[str, Programme], policy: Policy, settings) -> Calendar:
        reviewing = set(uow.conn.execute(select(U.c.id).where(U.c.reviews.is_(True))).scalars())
        return cls(programmes, policy, settings.tz, settings.obligations_from, reviewing, uow.deadlines.current())

    # ---- deadlines ------------------------------------------------------------------------

    def reviewer_id(self, unit: Row) -> int | None:
        """The nearest ancestor that reviews (the unit's "district")."""
        for part in reversed(unit.path.strip("/").split("/")[:-1]):
            if part and int(part) in self.reviewing:
                return int(part)
        return None

    @staticmethod
    def default_due(obligation: str, programme: Programme, year: int) -> date:
        """The programme's own day of a movable deadline ("plan" of plan year `year`, "dialogue"
        of `year`)."""
        if obligation == "plan":
            return programme.registration_due(year)
        day = programme.expectations.dialogue_due
        return date(year, day.month, day.day)

    def due(self, reviewer_id: int | None, obligation: str, programme: Programme, year: int) -> date:
        """The deadline in force for the units `reviewer_id` reviews directly: as it moved it, or
        the programme's."""
        moved = self.moved.get((reviewer_id, obligation, programme.code, year)) if reviewer_id is not None else None
        return moved or self.default_due(obligation, programme, year)

    def plan_due(self, programme: Programme, year: int, unit: Row) -> date:
        return self.due(self.reviewer_id(unit), "plan", programme, year)

    def dialogue_due(self, programme: Programme, year: int, unit: Row) -> date:
        return self.due(self.reviewer_id(unit), "dialogue", programme, year)

    @staticmethod
    def meeting_due(programme: Programme, year: int, month: int) -> date:
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        return first_of_next.replace(day=programme.expectations.meeting_report_before_day)

    # ---- which periods are in season at a moment --------------------------------------------

    def _window(self, kind: str, today: date) -> tuple[date, date]:
        before, after = self.policy.horizon(kind)
        return today - timedelta(days=after), today + timedelta(days=before)

    def plan_periods(self, today: date) -> list[tuple[Programme, int]]:
        low, high = self._window("plan", today)
        low, high = low - MAX_MOVE, high + MAX_MOVE  # moved deadlines
        return [
            (p, y)
            for p in self.programmes.values()
            if UnitKind.base_unit in p.registering_kinds
            for y in range(p.first_year, p.last_year + 1)
            if low <= p.registration_due(y) <= high
        ]

    def dialogue_periods(self, today: date) -> list[tuple[Programme, int]]:
        low, high = self._window("dialogue", today)
        low, high = low - MAX_MOVE, high + MAX_MOVE  # moved deadlines
        found = []
        for year in range(low.year, high.year + 1):
            p = programme_for(self.programmes, year, UnitKind.base_unit)
            in_season = p is not None and low <= self.default_due("dialogue", p, year) <= high
            if p is not None and in_season and p.expectations.dialogues_per_year > 0:
                found.append((p, year))
        return found

    def meeting_periods(self, today: date) -> list[tuple[Programme, int, int]]:
        low, high = self._window("meeting", today)
        found = []
        year, month = low.year, low.month
        for _ in range(14):
            p = programme_for(self.programmes, year, UnitKind.base_unit)
            if p is not None and p.expectations.meetings_per_year > 0:
                due = self.meeting_due(p, year, month)
                if low - timedelta(days=31) <= due <= high + timedelta(days=31):
                    found.append((p, year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    # ---- what is open ---------------------------------------------------------------------

    def open_obligations(
        self, uow: UnitOfWork, at: datetime, *, after_id: int = 0, limit: int = 1000, within: Row | None = None
    ) -> tuple[list[Obligation], int | None]:
        """The open obligations in season at `at` of the next `limit` units (by id, after
        `after_id`; only `within`'s subtree when given). Returns them and the id to go on from
        (None: that was the last chunk)."""
        stmt = select(U).where(U.c.kind.in_(OWING_KINDS), U.c.id > after_id).order_by(U.c.id).limit(limit)
        if within is not None:
            stmt = stmt.where(U.c.path.startswith(within.path, autoescape=True))
        units = list(uow.conn.execute(stmt))
        if not units:
            return [], None
        today = at.astimezone(self.tz).date()
        ids = [u.id for u in units]
        people, starts = bound(uow, ids, self.tz)
        found: list[Obligation] = []
        base = [u for u in units if u.kind == UnitKind.base_unit]
        branches = [u for u in units if u.kind == UnitKind.branch]
        if base:
            found += self._plans(uow, base, today, people)
            found += self._dialogues(uow, base, today, people)
            found += self._commitments(uow, base, today, people)
        if branches:
            found += self._meetings(uow, branches, today, people)
        owed = [o for o in found if self.owes(o.due, starts.get(o.unit.id))]
        return owed, (units[-1].id if len(units) == limit else None)

    # ---- the start rule -------------------------------------------------------------------

    def owes(self, due: date, start: date | None) -> bool:
        """Whether a unit whose start is `start` (see `start_of`; None: nobody has joined it)
        owes an obligation whose first late day is `due`: only if it falls due after the start,
        or, for a unit nobody has joined, after `obligations_from` when that is set."""
        start = start or self.obligations_from
        return start is not None and due > start

    def start_of(self, uow: UnitOfWork, unit: Row) -> date | None:
        """The day the unit's first secretary or deputy was bound (None: nobody ever was)."""
        return bound(uow, [unit.id], self.tz)[1].get(unit.id)

    def _plans(self, uow: UnitOfWork, units: list[Row], today: date, people) -> list[Obligation]:
        periods = self.plan_periods(today)
        if not periods:
            return []
        stmt = select(REG.c.unit_id, REG.c.programme, REG.c.year, REG.c.version).where(
            REG.c.unit_id.in_([u.id for u in units]), REG.c.year.in_({y for _p, y in periods})
        )
        state = {(r.unit_id, r.programme, r.year): r.version for r in uow.conn.execute(stmt)}
        found = []
        for programme, year in periods:
            for unit in units:
                version = state.get((unit.id, programme.code, year))
                if version:
                    continue  # submitted
                found.append(
                    Obligation(
                        plan_key(programme.code, year, unit.id),
                        "plan",
                        unit,
                        self.plan_due(programme, year, unit),
                        str(year),
                        people.get(unit.id, ()),
                        programme,
                        draft=version is not None,
                    )
                )
        return found

    def _dialogues(self, uow: UnitOfWork, units: list[Row], today: date, people) -> list[Obligation]:
        periods = self.dialogue_periods(today)
        if not periods:
            return []
        held = _reported(uow, units, ReportKind.dialogue, date(min(y for _p, y in periods), 1, 1))
        found = []
        for programme, year in periods:
            for unit in units:
                if any(d.year == year for d in held.get(unit.id, ())):
                    continue
                found.append(
                    Obligation(
                        dialogue_key(unit.id, year),
                        "dialogue",
                        unit,
                        self.dialogue_due(programme, year, unit),
                        str(year),
                        people.get(unit.id, ()),
                        programme,
                    )
                )
        return found

    def _meetings(self, uow: UnitOfWork, units: list[Row], today: date, people) -> list[Obligation]:
        periods = self.meeting_periods(today)
        if not periods:
            return []
        first = min(date(y, m, 1) for _p, y, m in periods)
        held = _reported(uow, units, ReportKind.meeting, first)
        found = []
        for programme, year, month in periods:
            for unit in units:
                if any((d.year, d.month) == (year, month) for d in held.get(unit.id, ())):
                    continue
                found.append(
                    Obligation(
                        meeting_key(unit.id, date(year, month, 1)),
                        "meeting",
                        unit,
                        self.meeting_due(programme, year, month),
                        f"{year}-{month:02d}",
                        people.get(unit.id, ()),
                        programme,
                    )
                )
        return found

    def _commitments(self, uow: UnitOfWork, units: list[Row], today: date, people) -> list[Obligation]:
        _before, after = self.policy.horizon("commitment")
        by_id = {u.id: u for u in units}
        stmt = (
            select(COM)
            .where(
                COM.c.unit_id.in_(list(by_id)),
                COM.c.status == CommitmentStatus.open,
                COM.c.due_on.is_not(None),
                COM.c.due_on <= today,
                COM.c.due_on >= today - timedelta(days=after),
            )
            .order_by(COM.c.id)
        )
        return [
            Obligation(
                commitment_key(c.id),
                "commitment",
                by_id[c.unit_id],
                c.due_on,
                str(c.id),
                people.get(c.unit_id, ()),
                commitment=c,
            )
            for c in uow.conn.execute(stmt)
        ]


def bound(uow: UnitOfWork, unit_ids: list[int], tz: tzinfo) -> tuple[dict[int, tuple[int, ...]], dict[int, date]]:
    """Who is reminded for each unit (its secretaries, else its deputies), and the day its first
    secretary or deputy was bound (revoked roles count: the unit had joined)."""
    stmt = select(R.c.unit_id, R.c.account_id, R.c.role, R.c.granted_at, R.c.revoked_at).where(
        R.c.unit_id.in_(unit_ids), R.c.role.in_([Role.secretary, Role.deputy])
    )
    holders: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    starts: dict[int, date] = {}
    for row in uow.conn.execute(stmt.order_by(R.c.id)):
        day = row.granted_at.astimezone(tz).date()
        starts[row.unit_id] = min(starts.get(row.unit_id, day), day)
        if row.revoked_at is None and row.account_id not in holders[row.unit_id][row.role]:
            holders[row.unit_id][row.role].append(row.account_id)
    people = {
        unit_id: tuple(roles.get(Role.secretary) or roles.get(Role.deputy) or ()) for unit_id, roles in holders.items()
    }
    return people, starts


def _reported(uow: UnitOfWork, units: list[Row], kind: ReportKind, since: date) -> dict[int, list[date]]:
    stmt = select(REP.c.unit_id, REP.c.held_on).where(
        REP.c.unit_id.in_([u.id for u in units]),
        REP.c.kind == kind,
        REP.c.status != ReportStatus.withdrawn,
        REP.c.held_on >= since,
    )
    held: dict[int, list[date]] = defaultdict(list)
    for row in uow.conn.execute(stmt):
        held[row.unit_id].append(row.held_on)
    return held
