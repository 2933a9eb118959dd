"""Escalation to the reviewing level: the morning digest, and the manual nudge.

On the mornings an overdue stage goes out (the first late day, then each repeat), the staff of
each reviewing unit get one digest of the units it reviews directly (those whose nearest
reviewing ancestor it is): the units that are late, and those that cannot be reached for now
(nobody bound, the bot blocked, outside Zalo's window), with a button to nudge them again.
`/nhacnho` and that button are one action (over the staff's whole subtree): at most one manual
reminder per obligation and person a day (stage "manual:<date>"), only inside the allowed hours.
A province's subtree is thousands of units, so a count and a nudge are not done inside the
staff member's event: it asks for them (`nudge_request`) and the service does them beside the
replies, in short transactions (`nudge_chunk`), then answers (bot/nudges.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from sqlalchemy import Row

from chidoan.engine.messages import Button, Outgoing
from chidoan.engine.notices import Window
from chidoan.i18n import N_, format_date, gettext
from chidoan.reminders.obligations import Calendar, Obligation
from chidoan.reminders.sweep import Batch, Season, Send, compose, digest_day, send
from chidoan.reminders.texts import WHAT, period_text, reminder_message
from chidoan.storage.models import Priority, Role
from chidoan.storage.uow import UnitOfWork

SHOWN = 25  # lines of units a digest lists; the rest are counted
SOON = timedelta(days=7)  # a manual nudge covers what is late or due within a week

WHY = {
    "nobody": N_("no secretary has joined"),
    "blocked": N_("has blocked the bot"),
    "outside_window": N_("outside Zalo's 7-day window"),
}
DIGEST_HEAD = N_("📋 {unit}, {date}: late obligations of the units below: {n}.")
UNREACHABLE_HEAD = N_("Cannot be reached for now ({n}):")
MORE = N_("… and {n} more.")
NUDGE_BUTTON = N_("🔔 Remind them again now")
NUDGE_CHUNK = 200  # units a transaction of a count or a nudge (about 10-20 ms)
NOTHING_TO_NUDGE = N_("{unit}: nothing is late or due within a week, or nobody can be reminded of it.")
WOULD_NUDGE = N_(
    "{unit}: obligations late or due within a week: {n}, of {units} unit(s); {people} person(s) would be reminded now; with nobody to remind: {nobody}. Send the reminders?"
)
NUDGE_NOW = N_("🔔 Send the reminders")
NOT_NOW = N_("Not now")
NUDGED = N_(
    "{unit}: reminders sent now: {made}; already reminded by hand today: {already}; obligations with nobody to remind: {nobody}."
)


def _what(o: Obligation, locale: str) -> str:
    if o.kind == "commitment":
        assert o.commitment is not None
        return gettext(locale, N_("the follow-up of “{promise}”"), promise=o.commitment.promise)
    programme = o.programme.short_name if o.programme else ""
    return gettext(locale, WHAT[o.kind], programme=programme, period=period_text(o))


def digest_message(reviewer: Row, late: list[tuple[Obligation, str]], today: date, locale: str) -> Outgoing:
    lines = [gettext(locale, DIGEST_HEAD, unit=reviewer.name, date=format_date(today), n=len(late))]
    for o, _why in late[:SHOWN]:
        lines.append(f"• {o.unit.code} {o.unit.name}: {_what(o, locale)} ({format_date(o.due)})")
    if len(late) > SHOWN:
        lines.append(gettext(locale, MORE, n=len(late) - SHOWN))
    cut_off = [(o, why) for o, why in late if why]
    if cut_off:
        lines.append("")
        lines.append(gettext(locale, UNREACHABLE_HEAD, n=len(cut_off)))
        for o, why in cut_off[:SHOWN]:
            lines.append(f"• {o.unit.code} {o.unit.name}: {gettext(locale, WHY[why])}")
        if len(cut_off) > SHOWN:
            lines.append(gettext(locale, MORE, n=len(cut_off) - SHOWN))
    button = Button(gettext(locale, NUDGE_BUTTON), f"rm:nudge:{reviewer.id}")
    return Outgoing("\n".join(lines), [[button]]).with_hint(locale)


def digests(uow: UnitOfWork, cal: Calendar, season: Season, at: datetime, window: Window) -> Batch:
    """The day's digests, one a reviewing unit's staff member (the key: digest:<unit>:<date>),
    to `store`."""
    today = at.astimezone(cal.tz).date()
    sends = []
    for reviewer_id, late in season.overdue.items():
        if not late or not digest_day(cal, late, at):
            continue
        reviewer = uow.units.one(reviewer_id)
        late.sort(key=lambda item: (item[0].unit.code, item[0].due))
        for holder in uow.roles.holders(reviewer_id, Role.district_staff):
            sends.append(
                Send(
                    f"digest:{reviewer_id}:{today.isoformat()}",
                    reviewer_id,
                    today,
                    holder.account_id,
                    "digest",
                    partial(digest_message, reviewer, late, today),
                    Priority.notice,  # one a staff member, not part of the season's bulk
                )
            )
    return compose(uow, sends, at, window)


@dataclass
class Tally:
    """What a count or a nudge of a subtree found, chunk after chunk."""

    units: set[int] = field(default_factory=set)  # units with someone to remind
    people: set[int] = field(default_factory=set)
    reachable: int = 0  # obligations with someone to remind
    nobody: int = 0  # obligations with nobody to remind
    made: int = 0  # reminders made now (a nudge)
    already: int = 0  # reminders made by hand today already


def nudge_chunk(
    uow: UnitOfWork,
    cal: Calendar,
    unit: Row,
    at: datetime,
    window: Window,
    tally: Tally,
    *,
    after_id: int,
    send_now: bool,
    limit: int = NUDGE_CHUNK,
) -> int | None:
    """One chunk of a count or a nudge of `unit`'s subtree: the open obligations in season that
    are late or due within a week. With `send_now`, each of their people is reminded now, unless
    reminded by hand today already (stage "manual:<date>"). Returns the id to go on from."""
    today = at.astimezone(cal.tz).date()
    chunk, after = cal.open_obligations(uow, at, after_id=after_id, within=unit, limit=limit)
    owed = [o for o in chunk if o.due - today <= SOON]
    reachable = [o for o in owed if o.recipients]
    tally.units |= {o.unit.id for o in reachable}
    tally.people |= {a for o in reachable for a in o.recipients}
    tally.reachable += len(reachable)
    tally.nobody += len(owed) - len(reachable)
    if send_now:
        stage = f"manual:{today.isoformat()}"
        existing = uow.reminders.of_obligations([o.key for o in reachable])
        sends = []
        for o in reachable:
            message = "overdue" if o.due <= today else "last_day" if o.due - today <= timedelta(days=1) else "before"
            for account_id in o.recipients:
                if any(r.stage == stage for r in existing.get((o.key, account_id), [])):
                    tally.already += 1
                    continue
                sends.append(
                    Send(o.key, o.unit.id, o.due, account_id, stage, partial(reminder_message, o, message, today))
                )
        send(uow, sends, at, window)
        tally.made += len(sends)
    return after


def count_message(unit: Row, tally: Tally, locale: str) -> Outgoing:
    """The answer to `/nhacnho`: how many would be reminded, and the button that does it."""
    if not tally.reachable:
        text = gettext(locale, NOTHING_TO_NUDGE, unit=unit.name)
        return Outgoing(text)
    text = gettext(
        locale,
        WOULD_NUDGE,
        unit=unit.name,
        units=len(tally.units),
        people=len(tally.people),
        n=tally.reachable,
        nobody=tally.nobody,
    )
    buttons = [
        [
            Button(gettext(locale, NUDGE_NOW), f"rm:nudge:{unit.id}"),
            Button(gettext(locale, NOT_NOW), "rm:no"),
        ]
    ]
    return Outgoing(text, buttons).with_hint(locale)


def sent_message(unit: Row, tally: Tally, locale: str) -> Outgoing:
    return Outgoing(
        gettext(locale, NUDGED, unit=unit.name, made=tally.made, already=tally.already, nobody=tally.nobody)
    )
