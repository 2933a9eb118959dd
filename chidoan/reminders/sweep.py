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

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial

from sqlalchemy import Row

from chidoan.engine.dispatch import becomes_question, outbox_row
from chidoan.engine.messages import Outgoing
from chidoan.engine.notices import Window, route
from chidoan.engine.typed import prompt_of
from chidoan.reminders.obligations import Calendar, Obligation
from chidoan.reminders.policy import Stage
from chidoan.reminders.texts import reminder_message
from chidoan.storage.models import OutboxStatus, Priority
from chidoan.storage.reminders import outbox_key
from chidoan.storage.uow import UnitOfWork

CHUNK = 500  # units a chunk the child process reads and words (stored in smaller transactions: bot/sweeps.py)
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

    created: int = 0  # messages queued (reminders and digests, held ones included)
    stages: Counter[str] = field(default_factory=Counter)  # of those, how many per stage (/metrics)
    keep: bool = True  # keep `planned` and `nobody` (a preview, the tests); the child does not
    planned: list[Planned] = field(default_factory=list)
    nobody: list[Obligation] = field(default_factory=list)  # owed, in season, nobody to remind
    # Late obligations by reviewing unit, with why nobody can be reached ("": they can be).
    overdue: dict[int, list[tuple[Obligation, str]]] = field(default_factory=lambda: defaultdict(list))


def plan(uow: UnitOfWork, obligations: list[Obligation], at: datetime) -> list[Planned]:
    """The reminders a sweep at `at` makes for these obligations (see the module's docstring)."""
    existing = uow.reminders.of_obligations([o.key for o in obligations if o.recipients])
    planned = []
    for o in obligations:
        stage = o.stage
        for account_id in o.recipients:
            made = existing.get((o.key, account_id), [])
            snoozed = next((r for r in reversed(made) if r.snoozed_until is not None), None)
            if snoozed is not None and at < snoozed.snoozed_until:
                continue
            stages = {r.stage for r in made}
            if stage.name not in stages:
                planned.append(Planned(o, account_id, stage))
            elif snoozed is not None and snoozed.stage == stage.name and stage.name + LATER not in stages:
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
    priority: int = Priority.bulk  # after replies and single notices (see bot/sender.py)


@dataclass(frozen=True)
class Written:
    """One reminder to store: its row, its outbox row (None: the account has no channel), and the
    chat's new question (None: not remembered), so that its buttons can be typed too."""

    reminder: dict
    row: dict | None = None
    prompt: dict | None = None


Batch = list[Written]


def sends_of(cal: Calendar, planned: list[Planned], at: datetime) -> list[Send]:
    today = at.astimezone(cal.tz).date()
    return [
        Send(
            p.obligation.key,
            p.obligation.unit.id,
            p.obligation.due,
            p.account_id,
            p.stage.name,
            partial(reminder_message, p.obligation, p.stage.message, today),
        )
        for p in planned
    ]


def compose(uow: UnitOfWork, sends: list[Send], at: datetime, window: Window) -> Batch:
    """The rows of these reminders: each routed as a notice (see engine/notices.py), worded in its
    reader's language, and made the chat's question (its buttons typed: "nhac lai sau", "2")
    under the rule of every notice (`becomes_question`): not in the chat where the person is in
    the middle of a journey, whose question it must not replace. Read-only: `store` writes them."""
    accounts = list({s.account_id for s in sends})
    candidates = uow.accounts.notice_candidates_of(accounts)
    busy = uow.conversations.busy(accounts)
    asked = uow.prompts.last_of(accounts)
    batch: Batch = []
    for s in sends:
        identities = candidates.get(s.account_id, [])
        reminder = {
            "obligation": s.obligation,
            "account_id": s.account_id,
            "stage": s.stage,
            "unit_id": s.unit_id,
            "due_on": s.due,
            "created_at": at,
            "snoozed_until": None,
        }
        target = route(identities, at, window)
        if target is None:  # no channel at all: the digest lists the unit
            batch.append(Written(reminder))
            continue
        message = s.render(identities[0].locale)
        row = outbox_row(target.channel, target.chat_id, s.account_id, message, at, target.kind, priority=s.priority)
        row["dedupe_key"] = outbox_key(s.obligation, s.account_id, s.stage)
        if target.held is not None:
            row |= {"status": OutboxStatus.held, "error": target.held}
        prompt = None
        if becomes_question(message, row, identities, in_journey=s.account_id in busy):
            chat = (s.account_id, target.channel, target.chat_id)
            made = prompt_of(message, asked.get(chat))
            if made is not None:
                asked[chat] = made  # a second reminder to the chat in this batch comes after it
                prompt = dict(zip(("account_id", "channel", "chat_id"), chat, strict=True))
                prompt |= {"seq": made[0], "body": made[1], "updated_at": at}
        batch.append(Written(reminder, row, prompt))
    return batch


def store(uow: UnitOfWork, batch: Batch, stages: Counter[str] | None = None) -> int:
    """Write reminders with their outbox rows and questions, in this one transaction; a reminder
    that exists already (another sweep, another worker) is skipped, and so is its outbox row (the
    same key); one whose obligation was met after it was composed is dropped. A reminder held for
    someone out of reach replaces the older ones held for them. Returns how many messages were
    queued (held ones included), and counts them per stage in `stages` when given."""
    met = uow.reminders.met_since(list({w.reminder["obligation"] for w in batch}))
    batch = [
        w
        for w in batch
        if not (w.reminder["obligation"] in met and met[w.reminder["obligation"]] >= w.reminder["created_at"])
    ]
    uow.reminders.add_many([w.reminder for w in batch])
    rows = [w.row for w in batch if w.row is not None]
    uow.outbox.add_many_once(rows)
    if stages is not None:
        stages.update(w.reminder["stage"] for w in batch if w.row is not None)
    uow.prompts.put_many([w.prompt for w in batch if w.prompt is not None])
    for w in batch:
        if w.row is not None and w.row["status"] == OutboxStatus.held:
            uow.reminders.supersede_held(w.reminder["obligation"], w.reminder["account_id"], w.row["dedupe_key"])
    return len(rows)


def send(uow: UnitOfWork, sends: list[Send], at: datetime, window: Window) -> int:
    return store(uow, compose(uow, sends, at, window))


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
) -> tuple[int | None, Batch]:
    """One chunk of a sweep: plan the reminders of the next `limit` units and note what the
    districts' digests need. Returns the id to go on from (None: the last chunk), and unless
    `dry_run` the rows to `store`."""
    obligations, next_id = cal.open_obligations(uow, at, after_id=after_id, limit=limit, within=within)
    planned = plan(uow, obligations, at)
    if season.keep:
        season.planned += planned
        season.nobody += [o for o in obligations if not o.recipients]
    today = at.astimezone(cal.tz).date()
    late = [o for o in obligations if o.due <= today]
    why = unreachable(uow, late, at, window)
    for o in late:
        reviewer = cal.reviewer_id(o.unit)
        if reviewer is not None:
            season.overdue[reviewer].append((o, why.get(o.key, "")))
    return next_id, ([] if dry_run else compose(uow, sends_of(cal, planned, at), at, window))


def digest_day(cal: Calendar, late: list[tuple[Obligation, str]], at: datetime) -> bool:
    """A district's digest goes on the mornings an overdue stage of one of its late units goes
    out (the first late day, then each repeat), with that stage, not before it."""
    today = at.astimezone(cal.tz).date()
    return any(o.stage.message == "overdue" and o.stage.at.astimezone(cal.tz).date() == today for o, _why in late)


def snooze_until(now: datetime) -> datetime:
    """A day from now, for "remind me tomorrow" (the allowed hours still apply then)."""
    return now + timedelta(days=1)
