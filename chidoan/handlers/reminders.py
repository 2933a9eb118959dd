"""What people do with reminders: a reminder's buttons ("rm:go:<kind>[:<year>]" starts the right journey,
"rm:later:<obligation>" puts it off for a day), and the reviewing level's manual nudge
(`/nhacnho`, and the digest's button "rm:nudge:<unit id>": one action)."""

from __future__ import annotations

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.messages import BUTTON_GONE
from chidoan.handlers import dialogues, meetings, registration
from chidoan.handlers.scope import staff_scope
from chidoan.i18n import N_, format_date
from chidoan.reminders.sweep import snooze_until, within_hours

STARTS = {
    "plan": registration.register_command,
    "meeting": meetings.meeting_command,
    "dialogue": dialogues.dialogue_command,
}


def reminder_action(ctx: Ctx, arg: str) -> None:
    what, _, rest = arg.partition(":")
    kind, _, args = rest.partition(":")
    if what == "go" and kind in STARTS:
        return STARTS[kind](ctx, args)
    if what == "later" and rest:
        return _later(ctx, rest)
    if what == "nudge":
        return _nudge(ctx, rest)
    if what == "no":
        ctx.say(N_("All right, nobody was reminded."))
        return
    ctx.say(BUTTON_GONE)


def _later(ctx: Ctx, obligation: str) -> None:
    made = ctx.uow.reminders.of_obligations([obligation]).get((obligation, ctx.account_id))
    met = ctx.uow.reminders.met_since([obligation]).get(obligation)
    if made and met is not None and met >= made[-1].created_at:  # a stale reminder's button
        ctx.say(N_("This is done already: there will be no more reminders about it."))
        return
    until = snooze_until(ctx.now)
    snoozed = ctx.uow.reminders.snooze(obligation, ctx.account_id, until)
    if snoozed is None:
        ctx.say(BUTTON_GONE)
    elif snoozed.snoozed_until is not None:
        when = snoozed.snoozed_until.astimezone(ctx.tz)
        ctx.say(
            N_("Already put off: you will be reminded again on {date} at {time}."),
            date=format_date(when),
            time=f"{when:%H:%M}",
        )
    else:
        when = until.astimezone(ctx.tz)
        ctx.say(
            N_("All right, you will be reminded again tomorrow ({date}, from {time})."),
            date=format_date(when),
            time=f"{when:%H:%M}",
        )


def _reviewing_units(ctx: Ctx) -> list[Row]:
    """The units whose subtree this person may nudge: those they are staff of (admins: every
    reviewing unit they hold a role on)."""
    return [ctx.uow.units.one(r.unit_id) for r in staff_scope(ctx)]


def nudge_command(ctx: Ctx, _args: str) -> None:
    units = _reviewing_units(ctx)
    if not units:
        ctx.say(N_("Reminders are sent by the staff of a reviewing union."))
        return
    for unit in units:
        _ask(ctx, unit, "count")
        ctx.say(N_("{unit}: counting what is late or due within a week…"), unit=unit.name)


def _nudge(ctx: Ctx, arg: str) -> None:
    unit = next((u for u in _reviewing_units(ctx) if str(u.id) == arg), None)
    if unit is None:
        ctx.say(BUTTON_GONE)
        return
    send_nudges(ctx, unit)


def send_nudges(ctx: Ctx, unit: Row) -> None:
    """Remind the units below `unit` (a nudge request, answered beside the replies), only within
    the allowed hours: /nhacnho's button and /chuanop's."""
    start, end = ctx.settings.allowed_hours
    if not within_hours((start, end), ctx.now, ctx.tz):
        ctx.say(
            N_("Reminders go out only between {start} and {end}. Please try again then."),
            start=f"{start:%H:%M}",
            end=f"{end:%H:%M}",
        )
        return
    _ask(ctx, unit, "send")
    ctx.say(N_("{unit}: sending the reminders…"), unit=unit.name)


def _ask(ctx: Ctx, unit: Row, kind: str) -> None:
    """Done beside the replies, then answered (bot/sweeps.py): a province is thousands of units."""
    ctx.uow.nudges.add(unit_id=unit.id, account_id=ctx.account_id, kind=kind, now=ctx.now)
    ctx.uow.asked.add("nudges")
