"""Merge one unit into another (`chidoan org merge --from X --into Y [--on DD/MM/YYYY]`): the
2025 commune mergers folded communes into one another, and their unions with them.

In one transaction:
- X's children go under Y, their subtrees with them (paths rewritten in one UPDATE);
- X's live roles are revoked ("merged") and, when Y is of X's kind, granted on Y (someone
  who already holds that role on Y keeps the one they have); each person is told;
- X's unfinished commitments (open, in progress) go to Y: Y follows them up from now on;
- X's registrations, reports, review actions and reminders stay on X: they are its history,
  and the status of an earlier year reads as it did (a closed unit is listed for a plan year
  only if it was still open on that year's registration deadline; see review/status.py);
- X's reminders still queued are cancelled (those of the commitments, now Y's, excepted);
- X's pending invites are voided (they expire now);
- X gets `closed_on` (the day the merger took effect, today by default; never a day to come)
  and `merged_into` = Y; from `closed_on` on it owes nothing (reminders/obligations.py);
- an org_change row "merge" for X, and one "move" for each child.

What is refused, with a message naming it: a merge of a unit into itself or into its own
subtree, of or into a unit already merged, and into a unit of a lower level. Y may be of a
higher level than X (a branch group dissolved into its base unit): X's children then go under
Y, but X's roles end there, not continue on Y: a branch group's secretary is not the base
unit's. Deadlines X moved for the units it reviewed (`/hanchot`) are not carried over: its
children are reviewed by Y (or Y's nearest reviewing ancestor) from now on, with Y's deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine, Row, select

from chidoan.bot.orgimport import KIND_AS_CHILD, KIND_AS_PARENT, Said
from chidoan.engine.dispatch import notice_row
from chidoan.engine.messages import Outgoing
from chidoan.engine.notices import Window
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import N_, format_date, gettext
from chidoan.storage.clock import utcnow
from chidoan.storage.models import (
    KIND_LEVEL,
    Commitment,
    CommitmentStatus,
    Invite,
    OrgChangeKind,
    OrgUnit,
    OutboxStatus,
    Reminder,
    Role,
    RoleAssignment,
    UnitKind,
    table,
)
from chidoan.storage.uow import UnitOfWork, unit_of_work

UNIT = table(OrgUnit)
ROLE = table(RoleAssignment)
COM = table(Commitment)
INV = table(Invite)
REM = table(Reminder)

REASON = "merged"  # role_assignment.revoked_reason
UNFINISHED = (CommitmentStatus.open, CommitmentStatus.in_progress)

CONTINUES = N_(
    "{old} has been merged into {new} from {date}. Your role continues there: {roles} of {new}. "
    "Plans and reports from now on are for {new}; those sent before stay with {old}."
)
ENDED = N_(
    "{old} has been merged into {new} from {date}. Your role ({roles} of {old}) has ended; "
    "if you continue at {new}, ask it for an invite code."
)


MERGED_ALREADY = N_("Unit '{code}' was merged into '{into}' on {day}.")


class MergeError(Said, Exception):
    """The merge cannot be done; the message is for the operator (`render(voice.t)`)."""

    def __init__(self, msgid: str, **params: object):
        super().__init__(msgid)
        self.msgid, self.params = msgid, params


@dataclass
class MergeResult:
    source: Row  # X as it was
    target: Row  # Y
    on: date
    roles_moved: int = 0  # continued on Y (granted there, or already held there)
    roles_ended: int = 0  # revoked on X, not continued (Y is of another kind)
    children: list[str] = field(default_factory=list)  # codes of X's children, now Y's
    commitments: int = 0
    invites: int = 0
    reminders: int = 0  # queued reminders of X cancelled
    notices: int = 0


def merge_units(
    db: Engine,
    from_code: str,
    into_code: str,
    *,
    settings,
    on: date | None = None,
    by: int | None = None,
    now: datetime | None = None,
) -> MergeResult:
    """Look the two units up by code and merge them in one transaction (see the module)."""
    now = now or utcnow()
    with unit_of_work(db) as uow:
        source, target = uow.units.by_code(from_code), uow.units.by_code(into_code)
        for code, unit in ((from_code, source), (into_code, target)):
            if unit is None:
                raise MergeError(N_("There is no unit with the code '{code}'."), code=code)
        assert source is not None and target is not None
        today = now.astimezone(settings.tz).date()
        return merge(uow, source, target, on=on or today, today=today, now=now, by=by, window=Window.of(settings))


def check(source: Row, target: Row, on: date, today: date, name_of) -> None:
    """Raise MergeError when X cannot be merged into Y (the module says which cases)."""
    x, y = source.code, target.code
    if source.id == target.id:
        raise MergeError(N_("Unit '{x}' cannot be merged into itself."), x=x)
    if source.closed_on is not None:
        into = name_of(source.merged_into)
        raise MergeError(MERGED_ALREADY, code=x, into=into, day=format_date(source.closed_on))
    if target.closed_on is not None:
        into = name_of(target.merged_into)
        raise MergeError(MERGED_ALREADY, code=y, into=into, day=format_date(target.closed_on))
    if target.path.startswith(source.path):
        raise MergeError(N_("'{x}' cannot be merged into '{y}': '{y}' is a unit below '{x}'."), x=x, y=y)
    kind, into_kind = UnitKind(source.kind), UnitKind(target.kind)
    if KIND_LEVEL[into_kind] > KIND_LEVEL[kind]:
        raise MergeError(
            N_(
                "{child} '{x}' cannot be merged into {parent} '{y}' (a lower level): merge it into a unit of the same level or higher."
            ),
            child=KIND_AS_CHILD[kind],
            x=x,
            parent=KIND_AS_PARENT[into_kind],
            y=y,
        )
    if on > today:
        raise MergeError(
            N_("The merger's day {day} has not come yet: a merger is recorded once it has taken effect."),
            day=format_date(on),
        )


def merge(
    uow: UnitOfWork, source: Row, target: Row, *, on: date, today: date, now: datetime, by: int | None, window: Window
) -> MergeResult:
    def code_of(unit_id: int | None) -> str:
        unit = uow.units.get(unit_id) if unit_id is not None else None
        return unit.code if unit is not None else "?"

    check(source, target, on, today, code_of)
    result = MergeResult(source, target, on)
    changes = uow.org_changes

    # The children and their subtrees go under Y.
    children = uow.units.children(source)
    for child in children:
        uow.units.update(child.id, parent_id=target.id)
        detail = {"code": child.code, "old_parent": source.code, "new_parent": target.code, "merge": source.code}
        changes.add(kind=OrgChangeKind.move, unit_id=child.id, detail=detail, by=by, now=now)
    if children:
        uow.units.rebase(source.path, target.path, keep_root=True)
    result.children = [c.code for c in children]

    # The roles: revoked on X, continued on Y when it is of X's kind; everyone told.
    continues = source.kind == target.kind
    told: dict[int, list[str]] = {}
    live = uow.conn.execute(
        select(ROLE).where(ROLE.c.unit_id == source.id, ROLE.c.revoked_at.is_(None)).order_by(ROLE.c.id)
    )
    for role in list(live):
        uow.roles.revoke(role.id, reason=REASON, now=now)
        held = {h.account_id for h in uow.roles.holders(target.id, role.role)}
        if not continues:
            result.roles_ended += 1
        else:  # one role on Y each: someone who already held it there keeps theirs
            if role.account_id not in held:
                uow.roles.grant(account_id=role.account_id, unit_id=target.id, role=role.role, invite_id=None, now=now)
            result.roles_moved += 1
        told.setdefault(role.account_id, []).append(role.role)

    # Unfinished commitments are Y's to follow up; everything else stays X's history.
    result.commitments = uow.conn.execute(
        COM.update()
        .where(COM.c.unit_id == source.id, COM.c.status.in_(UNFINISHED))
        .values(unit_id=target.id, updated_at=now)
    ).rowcount
    result.invites = uow.conn.execute(
        INV.update()
        .where(INV.c.unit_id == source.id, INV.c.used_at.is_(None), INV.c.expires_at > now)
        .values(expires_at=now)
    ).rowcount
    result.reminders = _cancel_reminders(uow, source)

    uow.units.update(source.id, closed_on=on, merged_into=target.id)
    detail = {
        "from": source.code,
        "into": target.code,
        "on": on.isoformat(),
        "old_parent": code_of(source.parent_id) if source.parent_id is not None else None,
        "old_name": source.name,
        "children": result.children,
        "roles_moved": result.roles_moved,
        "roles_ended": result.roles_ended,
        "commitments": result.commitments,
        "invites": result.invites,
    }
    changes.add(kind=OrgChangeKind.merge, unit_id=source.id, detail=detail, by=by, now=now)

    rows = []
    for account_id, roles in told.items():
        locale = uow.accounts.one(account_id).locale
        text = gettext(
            locale,
            CONTINUES if continues else ENDED,
            old=source.name,
            new=target.name,
            date=format_date(on),
            roles=", ".join(gettext(locale, ROLE_LABELS[Role(r)]) for r in dict.fromkeys(roles)),
        )
        row = notice_row(uow, account_id, Outgoing(text), now, window)
        if row is not None:
            rows.append(row)
    uow.outbox.add_many(rows)
    result.notices = len(rows)
    return result


def _cancel_reminders(uow: UnitOfWork, source: Row) -> int:
    """X's reminders not sent yet are dropped: X owes nothing any more. A commitment's are kept:
    the commitment is Y's now, under the same key (its report and its words)."""
    obligations = uow.conn.execute(
        select(REM.c.obligation).where(REM.c.unit_id == source.id, REM.c.obligation.not_like("commitment:%")).distinct()
    ).scalars()
    return sum(uow.reminders.cancel(o, [OutboxStatus.pending, OutboxStatus.held]) for o in obligations)
