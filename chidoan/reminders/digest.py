"""Escalation to the reviewing level: the morning digest, and the manual nudge.

On the mornings an overdue stage goes out (the first late day, then each repeat), the staff of
each reviewing unit get one digest of the units it reviews directly (those whose nearest
reviewing ancestor it is): the units that are late, and those that cannot be reached for now (nobody bound, the bot blocked, outside Zalo's window), with a button
to nudge them again. `/nhacnho` and that button are one action, `nudge` (over the staff's whole
subtree): at most one manual
reminder per obligation and person a day (stage "manual:<date>"), only inside the allowed hours.
"""

from __future__ import annotations

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


def due_for_nudge(uow: UnitOfWork, cal: Calendar, unit: Row, at: datetime) -> list[Obligation]:
    """What a nudge of `unit`'s subtree would remind of: open obligations in season, late or due
    within a week."""
    today = at.astimezone(cal.tz).date()
    found: list[Obligation] = []
    after: int | None = 0
    while after is not None:
        chunk, after = cal.open_obligations(uow, at, after_id=after, within=unit)
        found += [o for o in chunk if o.due - today <= SOON]
    return found


def nudge(uow: UnitOfWork, cal: Calendar, unit: Row, at: datetime, window: Window) -> tuple[int, int, int]:
    """Remind now of what `due_for_nudge` finds. Returns (reminders made now, already nudged
    today, obligations with nobody to remind)."""
    today = at.astimezone(cal.tz).date()
    owed = due_for_nudge(uow, cal, unit, at)
    stage = f"manual:{today.isoformat()}"
    existing = uow.reminders.of_obligations([o.key for o in owed])
    sends, already = [], 0
    for o in owed:
        message = "overdue" if o.due <= today else "last_day" if o.due - today <= timedelta(days=1) else "before"
        for account_id in o.recipients:
            if any(r.stage == stage for r in existing.get((o.key, account_id), [])):
                already += 1
                continue
            sends.append(
                Send(
                    o.key,
                    o.unit.id,
                    o.due,
                    account_id,
                    stage,
                    partial(reminder_message, o, message, today),
                )
            )
    send(uow, sends, at, window)
    return len(sends), already, sum(1 for o in owed if not o.recipients)
