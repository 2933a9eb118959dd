"""What each unit owes, and by when: the deadline calendar, read from the programme files and
from the deadlines reviewing units moved (`/hanchot`).

- plan: a base unit registers its plan for year Y before the programme's registration day
  (15/10 of Y-1); open while no version is submitted.
- meeting: a branch reports its meeting of month M before day `meeting_report_before_day` of
  M+1; open while no report of a meeting held in M (withdrawn ones do not count).
- dialogue: a base unit reports a dialogue held in year Y before `dialogue_due` of Y.
- commitment: a leader's commitment from a dialogue report (not withdrawn), followed up from
  its due day; open until the secretary answers the follow-up.

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
whole province never holds the database for long; an obligation is only made when it is owed
and the reminder policy has a stage for it at that moment.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import Row, or_, select

from chidoan.programmes.loader import Programme, programme_for, programmes
from chidoan.reminders.policy import Policy, Stage, policy_of
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
from chidoan.storage.rows import among
from chidoan.storage.uow import UnitOfWork

UNIT = table(OrgUnit)
ROLE = table(RoleAssignment)
REG = table(Registration)
REP = table(Report)
COM = table(Commitment)

OWING_KINDS = (UnitKind.base_unit, UnitKind.branch)
UNIT_COLUMNS = (UNIT.c.id, UNIT.c.code, UNIT.c.name, UNIT.c.kind, UNIT.c.path)  # what an obligation shows of its unit
MOVABLE = ("plan", "dialogue")  # the deadlines a reviewing unit may move (yearly ones)
MAX_MOVE = timedelta(days=120)  # how far from the programme's day a deadline may be moved


def plan_key(programme: str, year: int, unit_id: int) -> str:
    return f"plan:{programme}:{year}:{unit_id}"


def meeting_key(unit_id: int, held_on: date) -> str:
    return f"meeting:{unit_id}:{held_on.year}-{held_on.month:02d}"


def dialogue_key(unit_id: int, year: int) -> str:
    return f"dialogue:{unit_id}:{year}"


def commitment_key(commitment: Row) -> str:
    """By its report and its words, not its id: editing a dialogue report states its commitments
    afresh (new rows), and an unchanged promise must keep its reminders, a new one get its own."""
    digest = hashlib.sha1(commitment.promise.encode()).hexdigest()[:10]
    return f"commitment:{commitment.report_id}:{digest}"


@dataclass(frozen=True)
class Obligation:
    key: str  # see models.Reminder
    kind: str  # plan | meeting | dialogue | commitment
    unit: Row
    due: date  # the first late day
    period: str  # "2027" (plan year, dialogue year), "2026-11" (meeting month), commitment id
    recipients: tuple[int, ...]  # the unit's secretaries, else its deputies; () when nobody is bound
    stage: Stage  # the policy's current stage at the moment asked about
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
    # Memos for a sweep over a province: units share parents and obligations share due days.
    _reviewers: dict[str, int | None] = field(default_factory=dict, repr=False)
    _stages: dict[tuple[str, date], list[Stage]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, uow: UnitOfWork, settings) -> Calendar:
        """The deadlines in force (the programmes', as reviewing units moved them), the reminder
        policy and the start rule."""
        reviewing = set(uow.conn.execute(select(UNIT.c.id).where(UNIT.c.reviews.is_(True))).scalars())
        return cls(
            programmes(settings),
            policy_of(settings),
            settings.tz,
            settings.obligations_from,
            reviewing,
            uow.deadlines.current(),
        )

    # ---- deadlines ------------------------------------------------------------------------

    def reviewer_id(self, unit: Row) -> int | None:
        """The nearest ancestor that reviews (the unit's "district")."""
        above = unit.path[: unit.path.rstrip("/").rfind("/") + 1]
        if above not in self._reviewers:
            ids = [int(part) for part in above.strip("/").split("/") if part]
            self._reviewers[above] = next((i for i in reversed(ids) if i in self.reviewing), None)
        return self._reviewers[above]

    def stage_at(self, kind: str, due: date, at: datetime) -> Stage | None:
        """The policy's current stage at `at` of an obligation due on `due` (reminders/policy.py)."""
        key = (kind, due)
        if key not in self._stages:
            self._stages[key] = self.policy.stages(kind, due, self.tz)
        return self.policy.current_of(kind, self._stages[key], at)

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
        start = low - timedelta(days=31)  # a month is due in the next: its last stages come later still
        year, month = start.year, start.month
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
        """The open obligations of the next `limit` units (by id, after `after_id`; only
        `within`'s subtree when given) that the policy has a stage for at `at`, each with that
        stage. Returns them and the id to go on from (None: that was the last chunk). A unit
        merged into another (closed on or before `at`'s day) owes nothing from then on: its
        unfinished commitments were moved to the unit it joined, which owes them."""
        today = at.astimezone(self.tz).date()
        stmt = (
            select(*UNIT_COLUMNS)
            .where(
                UNIT.c.kind.in_(OWING_KINDS),
                UNIT.c.id > after_id,
                or_(UNIT.c.closed_on.is_(None), UNIT.c.closed_on > today),
            )
            .order_by(UNIT.c.id)
            .limit(limit)
        )
        if within is not None:
            stmt = stmt.where(UNIT.c.path.startswith(within.path, autoescape=True))
        units = list(uow.conn.execute(stmt))
        if not units:
            return [], None
        people, starts = bound(uow, [u.id for u in units], self.tz)
        owing = _Owing(self, at, people, starts)
        base = [u for u in units if u.kind == UnitKind.base_unit]
        branches = [u for u in units if u.kind == UnitKind.branch]
        if base:
            self._plans(uow, base, today, owing)
            self._dialogues(uow, base, today, owing)
            self._commitments(uow, base, today, owing)
        if branches:
            self._meetings(uow, branches, today, owing)
        return owing.found, (units[-1].id if len(units) == limit else None)

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

    def _plans(self, uow: UnitOfWork, units: list[Row], today: date, owing: _Owing) -> None:
        periods = self.plan_periods(today)
        if not periods:
            return
        stmt = select(REG.c.unit_id, REG.c.programme, REG.c.year, REG.c.version).where(
            _of(REG.c.unit_id, [u.id for u in units]), among(REG.c.year, {y for _p, y in periods})
        )
        state = {(r.unit_id, r.programme, r.year): r.version for r in uow.conn.execute(stmt)}
        for programme, year in periods:
            for unit in units:
                version = state.get((unit.id, programme.code, year))
                if not version:  # not submitted
                    due = self.plan_due(programme, year, unit)
                    key = plan_key(programme.code, year, unit.id)
                    moved = due != self.default_due("plan", programme, year)
                    owing.add(key, "plan", unit, due, str(year), programme, moved, draft=version is not None)

    def _dialogues(self, uow: UnitOfWork, units: list[Row], today: date, owing: _Owing) -> None:
        periods = self.dialogue_periods(today)
        if not periods:
            return
        held = _reported(uow, units, ReportKind.dialogue, date(min(y for _p, y in periods), 1, 1))
        for programme, year in periods:
            for unit in units:
                if not any(d.year == year for d in held.get(unit.id, ())):
                    due = self.dialogue_due(programme, year, unit)
                    moved = due != self.default_due("dialogue", programme, year)
                    owing.add(dialogue_key(unit.id, year), "dialogue", unit, due, str(year), programme, moved)

    def _meetings(self, uow: UnitOfWork, units: list[Row], today: date, owing: _Owing) -> None:
        periods = self.meeting_periods(today)
        if not periods:
            return
        held = _reported(uow, units, ReportKind.meeting, min(date(y, m, 1) for _p, y, m in periods))
        for programme, year, month in periods:
            due = self.meeting_due(programme, year, month)
            for unit in units:
                if not any((d.year, d.month) == (year, month) for d in held.get(unit.id, ())):
                    key = meeting_key(unit.id, date(year, month, 1))
                    owing.add(key, "meeting", unit, due, f"{year}-{month:02d}", programme)

    def _commitments(self, uow: UnitOfWork, units: list[Row], today: date, owing: _Owing) -> None:
        _before, after = self.policy.horizon("commitment")
        by_id = {u.id: u for u in units}
        stmt = (
            select(COM)
            .join(REP, REP.c.id == COM.c.report_id)
            .where(
                REP.c.status != ReportStatus.withdrawn,
                _of(COM.c.unit_id, list(by_id)),
                COM.c.status == CommitmentStatus.open,
                COM.c.due_on.is_not(None),
                COM.c.due_on <= today,
                COM.c.due_on >= today - timedelta(days=after),
            )
            .order_by(COM.c.id)
        )
        for c in uow.conn.execute(stmt):
            if c.unit_id in by_id:  # `_of` may read a few more
                owing.add(commitment_key(c), "commitment", by_id[c.unit_id], c.due_on, str(c.id), commitment=c)


@dataclass
class _Owing:
    """Collects a chunk's obligations: only those the unit owes (the start rule) and the policy
    has a stage for now; checked before an obligation is made, as most are not in season."""

    cal: Calendar
    at: datetime
    people: dict[int, tuple[int, ...]]
    starts: dict[int, date]
    found: list[Obligation] = field(default_factory=list)

    def add(self, key: str, kind: str, unit: Row, due: date, period: str, programme=None, moved=False, **extra) -> None:
        if not self.cal.owes(due, self.starts.get(unit.id)):
            return
        stage = self.cal.stage_at(kind, due, self.at)
        if stage is not None and moved:
            # The stages of a moved deadline are new ones, sent again, except its opening: the
            # move itself was announced (/hanchot).
            stage = (
                None
                if stage.message == "opening"
                else Stage(f"{stage.name}@{due.isoformat()}", stage.message, stage.at)
            )
        if stage is not None:
            obligation = Obligation(
                key, kind, unit, due, period, self.people.get(unit.id, ()), stage, programme, **extra
            )
            self.found.append(obligation)


def _of(column, ids: list[int]):
    """Rows of these units: a chunk's ids are nearly contiguous, so a range (read a few more,
    dropped by the caller's lookups) is much cheaper than a list of a few hundred values."""
    low, high = min(ids), max(ids)
    return column.between(low, high) if high - low < 2 * len(ids) + 16 else among(column, ids)


def bound(uow: UnitOfWork, unit_ids: list[int], tz: tzinfo) -> tuple[dict[int, tuple[int, ...]], dict[int, date]]:
    """Who is reminded for each unit (its secretaries, else its deputies), and the day its first
    secretary or deputy was bound (revoked roles count: the unit had joined)."""
    stmt = select(ROLE.c.unit_id, ROLE.c.account_id, ROLE.c.role, ROLE.c.granted_at, ROLE.c.revoked_at).where(
        _of(ROLE.c.unit_id, unit_ids), ROLE.c.role.in_([Role.secretary, Role.deputy])
    )
    holders: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    starts: dict[int, date] = {}
    for row in uow.conn.execute(stmt.order_by(ROLE.c.id)):
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
        _of(REP.c.unit_id, [u.id for u in units]),
        REP.c.kind == kind,
        REP.c.status != ReportStatus.withdrawn,
        REP.c.held_on >= since,
    )
    held: dict[int, list[date]] = defaultdict(list)
    for row in uow.conn.execute(stmt):
        held[row.unit_id].append(row.held_on)
    return held
