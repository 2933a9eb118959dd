"""The reminder sweep: which reminders are due at a moment, and writing them exactly once.

A sweep walks the units in chunks (one short transaction each, see obligations.py); for every
open obligation it asks the policy for the current stage and makes one reminder row per
recipient and stage, unless one exists (the unique key: a repeated sweep, a restart or a second
worker adds nothing), with its outbox row (dedupe key `reminder:…`, bulk priority) in the same
transaction. The channel is chosen then, as for every notice (engine/notices.py): the one used
last, Zalo only inside its window, else another channel of the account, else Zalo's approved
template, else held as "outside the Zalo window", which the district's digest shows.

"Remind me tomorrow" on a reminder: nothing more about that obligation to that person until the
time has come; then, if no newer stage has come meanwhile, the same reminder once more (stage
"<stage>+later").

Outside the allowed hours (CHIDOAN_REMINDER_HOURS, 07:30–20:30 by default) a sweep makes
nothing: what falls due at night goes out with the first sweep of the morning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial

from sqlalchemy import Row

from chidoan.engine.dispatch import outbox_row
from chidoan.engine.messages import Outgoing
from chidoan.engine.notices import Window, route
from chidoan.reminders.obligations import Calendar, Obligation
from chidoan.reminders.policy import Stage
from chidoan.reminders.texts import reminder_message
from chidoan.storage.models import OutboxStatus
from chidoan.storage.reminders import outbox_key
from chidoan.storage.uow import UnitOfWork

CHUNK = 500  # units a transaction: a few ms of reads and one batch of inserts
LATER = "+later"


def within_hours(hours: tuple[time, time], at: datetime, tz) -> bool:
    local = at.astimezone(tz).time()
    return hours[0] <= local < hours[1]


@dataclass(frozen=True)
class Planned:
    obligation: Obligation
    account_id: int
    stage: Stage


@dataclass
class Season:
    """What one sweep found, across its chunks: for the preview and the districts' digests."""

    planned: list[Planned] = field(default_factory=list)
    nobody: list[Obligation] = field(default_factory=list)  # owed, in season, nobody to remind
    created: int = 0
    overdue: dict[int, list[tuple[Obligation, str]]] = field(default_factory=lambda: defaultdict(list))


def plan(uow: UnitOfWork, cal: Calendar, obligations: list[Obligation], at: datetime) -> list[Planned]:
    """The reminders a sweep at `at` makes for these obligations (see the module's docstring)."""
    existing = uow.reminders.of_obligations([o.key for o in obligations if o.recipients])
    planned = []
    for o in obligations:
        stage = cal.policy.current_stage(o.kind, o.due, at, cal.tz)
        if stage is None:
            continue
        for account_id in o.recipients:
            made = existing.get((o.key, account_id), [])
            snoozed = next((r for r in reversed(made) if r.snoozed_until is not None), None)
            if snoozed is not None and at < snoozed.snoozed_until:
                continue
            stages = {r.stage for r in made}
            if stage.name not in stages:
                planned.append(Planned(o, account_id, stage))
            elif snoozed is not None and not snoozed.stage.endswith(LATER) and snoozed.stage + LATER not in stages:
                planned.append(Planned(o, account_id, Stage(snoozed.stage + LATER, stage.message, at)))
    return planned


@dataclass(frozen=True)
class Send:
    """One reminder to write: its key, and its words in the reader's language."""

    obligation: str
    unit_id: int
    due: date
    account_id: int
    stage: str
    render: Callable[[str], Outgoing]


def write(uow: UnitOfWork, cal: Calendar, planned: list[Planned], at: datetime, window: Window) -> list[dict]:
    today = at.astimezone(cal.tz).date()
    return send(
        uow,
        [
            Send(
                p.obligation.key,
                p.obligation.unit.id,
                p.obligation.due,
                p.account_id,
                p.stage.name,
                partial(reminder_message, p.obligation, p.stage.message, today),
            )
            for p in planned
        ],
        at,
        window,
    )


def send(uow: UnitOfWork, sends: list[Send], at: datetime, window: Window) -> list[dict]:
    """Store the reminders and their outbox rows (both skip what exists already). Returns the
    outbox rows, held ones included (their `error` says why)."""
    if not sends:
        return []
    candidates = uow.accounts.notice_candidates_of(list({s.account_id for s in sends}))
    reminders, rows = [], []
    for s in sends:
        identities = candidates.get(s.account_id, [])
        reminders.append(
            {
                "obligation": s.obligation,
                "account_id": s.account_id,
                "stage": s.stage,
                "unit_id": s.unit_id,
                "due_on": s.due,
                "created_at": at,
                "snoozed_until": None,
            }
        )
        target = route(identities, at, window)
        if target is None:
            continue  # no channel at all: the digest lists the unit
        message = s.render(identities[0].locale)
        row = outbox_row(target.channel, target.chat_id, s.account_id, message, at, kind=target.kind)
        row["dedupe_key"] = outbox_key(s.obligation, s.account_id, s.stage)
        if target.held is not None:
            row |= {"status": OutboxStatus.held, "error": target.held}
        rows.append(row)
    uow.reminders.add_many(reminders)
    uow.outbox.add_many_once(rows)
    return rows


def unreachable(uow: UnitOfWork, obligations: list[Obligation], at: datetime, window: Window) -> dict[str, str]:
    """Of these obligations, those nobody can be reached for now, by key, with why: "nobody"
    (no secretary bound), "blocked" (every channel refused), "outside_window" (Zalo only, out of
    its window, no template)."""
    accounts = {a for o in obligations for a in o.recipients}
    candidates = uow.accounts.notice_candidates_of(list(accounts))
    why: dict[str, str] = {}
    for o in obligations:
        if not o.recipients:
            why[o.key] = "nobody"
            continue
        targets = [route(candidates.get(a, []), at, window) for a in o.recipients]
        if all(t is None or t.held is not None for t in targets):
            held = [t.held for t in targets if t is not None]
            why[o.key] = "outside_window" if "outside_window" in held else "blocked"
    return why


def sweep_chunk(
    uow: UnitOfWork,
    cal: Calendar,
    at: datetime,
    window: Window,
    season: Season,
    *,
    after_id: int,
    dry_run: bool = False,
    within: Row | None = None,
    limit: int = CHUNK,
) -> int | None:
    """One chunk of a sweep: plan (and unless `dry_run`, write) the reminders of the next
    `limit` units; note what the districts' digests need. Returns the id to go on from."""
    obligations, next_id = cal.open_obligations(uow, at, after_id=after_id, limit=limit, within=within)
    planned = plan(uow, cal, obligations, at)
    season.planned += planned
    today = at.astimezone(cal.tz).date()
    in_season = [o for o in obligations if cal.policy.current_stage(o.kind, o.due, at, cal.tz) is not None]
    season.nobody += [o for o in in_season if not o.recipients]
    late = [o for o in in_season if o.due <= today]
    why = unreachable(uow, late, at, window)
    for o in late:
        reviewer = cal.reviewer_id(o.unit)
        if reviewer is not None:
            season.overdue[reviewer].append((o, why.get(o.key, "")))
    if not dry_run:
        season.created += len(write(uow, cal, planned, at, window))
    return next_id


def digest_day(cal: Calendar, late: list[tuple[Obligation, str]], at: datetime) -> bool:
    """A district's digest goes on the mornings an overdue stage of one of its late units goes
    out (the first late day, then each repeat), with that stage, not before it."""
    today = at.astimezone(cal.tz).date()
    for o, _why in late:
        stage = cal.policy.current_stage(o.kind, o.due, at, cal.tz)
        if stage is not None and stage.message == "overdue" and stage.at.astimezone(cal.tz).date() == today:
            return True
    return False


def snooze_until(now: datetime) -> datetime:
    """ "Remind me tomorrow": a day from now (the allowed hours still apply then)."""
    return now + timedelta(days=1)
