"""/chuanop for reviewing staff: who below them still owes what (chidoan/review/pending.py),
one message per obligation (the plan, this year's dialogue, last month's meetings, unanswered
commitment follow-ups), each unit with its days left or days late, 20 a page; and a button that
reminds them, the way /nhacnho's does (a nudge request answered beside the replies, only within
the allowed hours).

Buttons carry "pd:<root id>:<obligation>:<page>:<plan year>" or "pd:<root id>:nudge:0:<year>";
the id is parsed and the unit checked against the person's scope again.
"""

from __future__ import annotations

from datetime import date
from functools import partial

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.jobs import JobContext
from chidoan.engine.messages import Button, Outgoing
from chidoan.handlers import status as status_handler
from chidoan.handlers.reminders import send_nudges
from chidoan.handlers.scope import staff_scope
from chidoan.handlers.status import MAX_REPLY, PAGE, Speaker, current_programmes, page_button
from chidoan.i18n import N_, format_date
from chidoan.programmes.loader import Programme
from chidoan.reminders.obligations import Calendar
from chidoan.review.pending import CHUNKED, KINDS, Owed, Pending, finish, from_status, pending_of
from chidoan.review.status import count_units, status_of

TITLES = {
    "plan": N_("📝 Plans for {period} (due before {due}): {count} units have not sent theirs"),
    "dialogue": N_("🗣 Dialogues of {period} (due before {due}): {count} units have not reported one"),
    "meeting": N_("👥 Branch meetings of {period} (due before {due}): {count} branches have not reported"),
    "commitment": N_("🤝 Commitments due whose follow-up is unanswered: {count} units"),
}
NONE = {
    "plan": N_("📝 Plans for {period}: every unit that owes one has sent it."),
    "dialogue": N_("🗣 Dialogues of {period}: every unit has reported one."),
    "meeting": N_("👥 Branch meetings of {period}: every branch has reported."),
    "commitment": N_("🤝 Commitments: no follow-up is waiting."),
}


def pending_command(ctx: Ctx, _args: str) -> None:
    roots = [ctx.uow.units.one(r.unit_id) for r in staff_scope(ctx)]
    if not roots:
        ctx.say(N_("The list of what is owed is for the staff of a reviewing union."))
        return
    plans = current_programmes(ctx)
    if not plans:
        ctx.say(N_("No programme is being followed now."))
        return
    programme, year = plans[0]
    for root in roots:
        show(ctx, root, programme, year, None, 0)


def pending_action(ctx: Ctx, arg: str) -> None:
    button = page_button(ctx, arg, (*KINDS, "nudge"))
    if button is None:
        return
    root, what, page, programme, year = button
    if what == "nudge":
        nudge(ctx, root)
        return
    show(ctx, root, programme, year, what, page)


def show(ctx: Ctx, root: Row, programme: Programme, year: int, only: str | None, page: int) -> None:
    """Made here for a district; by a job reading in chunks for a larger subtree (see /trangthai)."""
    count = count_units(ctx.uow, root, programme)
    if count > status_handler.CHUNK:
        ctx.say(N_("{unit}: gathering the status of {count} units…"), unit=root.name, count=count)
        ctx.later("pending_reply", root=root.id, only=only, page=page, year=year)
        return
    cal = Calendar.load(ctx.uow, ctx.settings)
    status = status_of(ctx.uow, root, programme, year, today=ctx.today, settings=ctx.settings, cal=cal)
    groups = pending_of(ctx.uow, status, root, programme, today=ctx.today, cal=cal)
    for text, buttons in messages(ctx, root, groups, only, page, year, ctx.today):
        ctx.say_text(text, buttons=buttons)


async def pending_reply(job: JobContext) -> None:
    params, settings = job.params, job.settings
    today = job.now.astimezone(settings.tz).date()
    programme = status_handler.programme_for_year(settings, params["year"])
    if programme is None:
        raise LookupError(f"no programme covers {params['year']}")
    root, cal = await job.read(lambda uow: (uow.units.one(params["root"]), Calendar.load(uow, settings)))
    status = await status_handler.read_status(job, root, programme, params["year"], today, cal)
    groups = from_status(status, programme, today=today, cal=cal)
    for group in groups:
        after: str | None = ""
        while after is not None and group.kind in CHUNKED:  # each chunk its own short transaction
            read = partial(CHUNKED[group.kind], root=root, group=group, cal=cal, today=today, after=after)
            after = await job.read(read)
    finish(groups)
    for text, buttons in messages(job, root, groups, params["only"], params["page"], params["year"], today):
        await job.reply(Outgoing(text, buttons).with_hint(job.locale))


def messages(
    who: Speaker, root: Row, groups: list[Pending], only: str | None, page: int, year: int, today: date
) -> list[tuple[str, list[list[Button]]]]:
    """One message per obligation owed (or the page of one), then what is done and the button."""
    if only is not None:
        group = next(g for g in groups if g.kind == only)
        return [group_page(who, root, group, page, year, today)]
    owing = [g for g in groups if g.units]
    heading = who.t(N_("{unit}: what the units still owe, as of {date}."), unit=root.name, date=format_date(today))
    found: list[tuple[str, list[list[Button]]]] = [(heading, [])]
    found += [group_page(who, root, group, 0, year, today) for group in owing]
    done = [who.t(NONE[g.kind], period=g.period) for g in groups if not g.units]
    remind = [[Button(who.t(N_("🔔 Remind these units")), f"pd:{root.id}:nudge:0:{year}")]] if owing else []
    found.append(("\n".join(done) if done else who.t(N_("That is all.")), remind))
    return found


def group_page(
    who: Speaker, root: Row, group: Pending, page: int, year: int, today: date
) -> tuple[str, list[list[Button]]]:
    pages = max(1, -(-len(group.units) // PAGE))
    page = min(page, pages - 1)
    title = who.t(
        TITLES[group.kind],
        period=group.period,
        due=format_date(group.due) if group.due else "",
        count=len(group.units),
    )
    lines = [title]
    if pages > 1:
        lines.append(who.t(N_("Page {page}/{pages}:"), page=page + 1, pages=pages))
    lines += [owed_line(who, group.kind, o, today) for o in group.units[page * PAGE : (page + 1) * PAGE]]
    row = []
    if page > 0:
        row.append(Button(who.t(N_("◀ Previous")), f"pd:{root.id}:{group.kind}:{page - 1}:{year}"))
    if page + 1 < pages:
        row.append(Button(who.t(N_("Next ▶")), f"pd:{root.id}:{group.kind}:{page + 1}:{year}"))
    return "\n".join(lines)[:MAX_REPLY], [row] if row else []


def owed_line(who: Speaker, kind: str, owed: Owed, today: date) -> str:
    when = _when(who, owed.due, today)
    if kind == "commitment":
        return who.t(
            N_("• {name} ({code}): {count} commitments, {when}"),
            name=owed.name,
            code=owed.code,
            count=owed.count,
            when=when,
        )
    return who.t(N_("• {name} ({code}): {when}"), name=owed.name, code=owed.code, when=when)


def _when(who: Speaker, due: date, today: date) -> str:
    if due > today:
        return who.t(N_("{days} days left"), days=(due - today).days)
    return who.t(N_("{days} days late"), days=(today - due).days + 1)


def nudge(ctx: Ctx, root: Row) -> None:
    """As /nhacnho's button: a nudge request, answered beside the replies (bot/nudges.py)."""
    send_nudges(ctx, root)
