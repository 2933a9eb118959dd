"""The reviewing unit's documents and exports: /baocaohuyen, /quyetdinh, /xuat.

- `/baocaohuyen [year]` (`/baocaotonghop`, `/summaryreport`): the compiled report on the plans
  of the units the reviewing unit reviews directly (documents/review.py), with a button
  "📤 Gửi lên <level above>" where a reviewing unit sits above it. Pressing it records the
  sending (`compiled_report`, on time against the programme's `district_report_deadline`) and
  sends the document to the level above's staff, each in their language; pressed again, the
  document is not sent twice.
- `/quyetdinh [year]` (`/decision`): the QUYẾT ĐỊNH công nhận of the units whose result passed.
- `/xuat [year] [unit]` (`/export`): a spreadsheet of the subtree (exports/xlsx.py).

Each answers at once ("đang soạn…") and leaves a job (`ctx.later`): the data is read in short
transactions and the file made off the database thread (engine/jobs.py). Staff of several
reviewing units choose with buttons. Every button is checked again when pressed, against the
roles read now: a forged unit id is refused as a typed one is, and the send-upward button
carries a signature of its document, unit and year, so it cannot be pointed at another file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Row

from chidoan.documents.gather import compiled_document, decision_document, level_above
from chidoan.documents.review import compiled_filename, decision_filename, render_compiled, render_decision
from chidoan.engine.context import Ctx
from chidoan.engine.dispatch import notice_row
from chidoan.engine.inputs import ascii_int, parse_id
from chidoan.engine.jobs import JobContext
from chidoan.engine.messages import BUTTON_GONE, Attachment, Button, Outgoing
from chidoan.exports.xlsx import (
    CHILD_ABOVE,
    export,
    export_elsewhere,
    export_filename,
    shared_database,
    units_below,
)
from chidoan.handlers.deadlines import reviewing_units
from chidoan.handlers.scope import find_units, in_scope, staff_scope
from chidoan.i18n import N_, format_date, gettext
from chidoan.programmes.loader import Programme, programme_for, programmes
from chidoan.storage.models import Role, UnitKind
from chidoan.storage.signing import sign, verify
from chidoan.storage.uow import UnitOfWork

NOT_REVIEWING = N_(
    "Only the staff of a union that reviews the units below it can draw up this document; you are not staff of one."
)
BAD_YEAR = N_("{year} is not a plan year of any programme. Plan years: {years}.")
PREPARING = {
    "c": N_("Drawing up the compiled report of {unit} on the plans for {year}… It comes in a moment."),
    "d": N_("Drawing up the recognition decision of {unit} for {year}… It comes in a moment."),
    "x": N_("Preparing the spreadsheet of {unit} for {year}… A large union takes a minute."),
}
ALREADY = N_("Already being prepared: {unit}, {year}. It comes as soon as it is ready; no need to ask again.")
CHOOSE = {
    "c": N_("The compiled report of which union?"),
    "d": N_("The recognition decision of which union?"),
    "x": N_("The spreadsheet of which union?"),
}
JOB_KINDS = {"c": "compiled", "d": "decision", "x": "export"}
SEND_UP = N_("📤 Send to {above}")
TIMING_ON_TIME = N_("on time (deadline: before {due})")
TIMING_LATE = N_("late (the deadline was before {due})")


# ---- years ------------------------------------------------------------------------------------


def plan_years(ctx_settings) -> list[int]:
    years: set[int] = set()
    for programme in programmes(ctx_settings).values():
        if UnitKind.base_unit in programme.registering_kinds:
            years |= set(range(programme.first_year, programme.last_year + 1))
    return sorted(years)


D = TypeVar("D")  # a gathered document


def _programme(settings, year: int) -> Programme | None:
    return programme_for(programmes(settings), year, UnitKind.base_unit)


def default_year(settings, today: date, what: str) -> int | None:
    """The compiled report: the plan year whose registration deadline is nearest today (in
    October 2026, 2027's); the decision: the plan year ending nearest (this year from July, the
    last one before); the export: this year. Clamped to the programmes' years."""
    years = plan_years(settings)
    if not years:
        return None
    if what == "c":

        def distance(year: int) -> int:
            programme = _programme(settings, year)
            return abs((programme.registration_due(year) - today).days) if programme else 10**6

        return min(years, key=distance)
    wanted = today.year if what == "x" or today.month >= 7 else today.year - 1
    return min(years, key=lambda year: abs(year - wanted))


# ---- commands ---------------------------------------------------------------------------------


def compiled_command(ctx: Ctx, args: str) -> None:
    _document_command(ctx, args, "c")


def decision_command(ctx: Ctx, args: str) -> None:
    _document_command(ctx, args, "d")


def _split_args(ctx: Ctx, args: str) -> tuple[int | None, str, bool]:
    """(year, the other words, whether a year was asked that is no plan year)."""
    year: int | None = None
    rest = []
    for word in args.split():
        number = ascii_int(word, 4)
        if number is not None and year is None and len(word) == 4:
            year = number
        else:
            rest.append(word)
    return year, " ".join(rest), year is not None and year not in plan_years(ctx.settings)


def _bad_year(ctx: Ctx, year: int) -> None:
    years = plan_years(ctx.settings)
    ctx.say(BAD_YEAR, year=year, years=", ".join(map(str, years)))


def _document_command(ctx: Ctx, args: str, what: str) -> None:
    units = sorted(reviewing_units(ctx), key=lambda u: u.path)
    if not units:
        ctx.say(NOT_REVIEWING)
        return
    year, _rest, bad = _split_args(ctx, args)
    if bad and year is not None:
        return _bad_year(ctx, year)
    year = year or default_year(ctx.settings, ctx.today, what)
    if year is None:
        ctx.say(N_("No programme is open for registration now."))
        return
    if len(units) == 1:
        return _queue(ctx, what, units[0], year)
    ctx.say(CHOOSE[what], buttons=[[Button(u.name, f"doc:{what}:{u.id}:{year}")] for u in units[:20]])


def export_command(ctx: Ctx, args: str) -> None:
    roots = _export_roots(ctx)
    if not roots:
        ctx.say(N_("Exports are for the staff of a union, over the units they manage."))
        return
    year, rest, _bad = _split_args(ctx, args)
    if year is not None and not 1990 <= year <= 2200:
        return _bad_year(ctx, year)
    year = year or default_year(ctx.settings, ctx.today, "x") or ctx.today.year
    if rest:
        found = find_units(ctx, rest, limit=10)
        if not found:
            ctx.say(N_("No unit “{text}” among the units you manage."), text=rest[:40])
            return
        if len(found) == 1:
            return _queue(ctx, "x", found[0], year)
        roots = found
    if len(roots) == 1:
        return _queue(ctx, "x", roots[0], year)
    ctx.say(CHOOSE["x"], buttons=[[Button(f"{u.name} ({u.code})", f"doc:x:{u.id}:{year}")] for u in roots[:20]])


def _export_roots(ctx: Ctx) -> list[Row]:
    """The units whose subtree this staff member may export: those they hold a staff role on
    (one inside another's subtree is left out)."""
    units = sorted({r.unit_id: ctx.uow.units.one(r.unit_id) for r in staff_scope(ctx)}.values(), key=lambda u: u.path)
    roots: list[Row] = []
    for unit in units:
        if not any(unit.path.startswith(root.path) for root in roots):
            roots.append(unit)
    return roots


def _queue(ctx: Ctx, what: str, unit: Row, year: int) -> None:
    if ctx.later(JOB_KINDS[what], unit_id=unit.id, year=year):
        ctx.say(PREPARING[what], unit=unit.name, year=year)
    else:  # the same one is still waiting: asked twice in a hurry
        ctx.say(ALREADY, unit=unit.name, year=year)


# ---- buttons ----------------------------------------------------------------------------------


def document_action(ctx: Ctx, arg: str) -> None:
    """ "doc:<c|d|x>:<unit id>:<year>" chooses a union; "doc:up:<document>:<unit>:<year>:<sig>"
    sends a compiled report upward."""
    what, _, rest = arg.partition(":")
    if what == "up":
        return _send_up(ctx, rest)
    unit_text, _, year_text = rest.partition(":")
    unit_id, year = parse_id(unit_text), ascii_int(year_text, 4)
    unit = ctx.uow.units.get(unit_id) if unit_id is not None else None
    if what not in JOB_KINDS or unit is None or year is None:
        ctx.say(BUTTON_GONE)
        return
    if what == "x":
        allowed = in_scope(ctx, unit) and 1990 <= year <= 2200
    else:
        allowed = any(u.id == unit.id for u in reviewing_units(ctx)) and year in plan_years(ctx.settings)
    if not allowed:
        ctx.say(BUTTON_GONE)
        return
    _queue(ctx, what, unit, year)


def up_payload(uow: UnitOfWork, document_id: int, unit_id: int, year: int) -> str:
    return f"doc:up:{document_id}:{unit_id}:{year}:{sign(uow, f'up:{document_id}:{unit_id}:{year}')}"


def _send_up(ctx: Ctx, rest: str) -> None:
    parts = rest.split(":")
    if len(parts) != 4:
        ctx.say(BUTTON_GONE)
        return
    document_id, unit_id, year = parse_id(parts[0]), parse_id(parts[1]), ascii_int(parts[2], 4)
    uow = ctx.uow
    if document_id is None or unit_id is None or year is None:
        ctx.say(BUTTON_GONE)
        return
    if not verify(uow, f"up:{document_id}:{unit_id}:{year}", parts[3]):
        ctx.say(BUTTON_GONE)
        return
    unit = uow.units.get(unit_id)
    document = uow.documents.get(document_id)
    programme = _programme(ctx.settings, year)
    allowed = unit is not None and any(u.id == unit.id for u in reviewing_units(ctx))
    if not allowed or document is None or programme is None:
        ctx.say(BUTTON_GONE)
        return
    assert unit is not None
    above = level_above(uow, unit)
    if above is None:
        ctx.say(BUTTON_GONE)
        return
    sent = uow.compiled.by_document(document_id)
    if sent is not None:
        ctx.say(
            N_("This report was already sent to {above} on {date} by {name}."),
            above=above.name,
            date=format_date(sent.sent_at.astimezone(ctx.tz)),
            name=uow.accounts.one(sent.sent_by).full_name or "?",
        )
        return
    due = programme.district_report_due(year)
    on_time = due is None or ctx.today < due
    uow.compiled.add(
        unit_id=unit.id,
        programme=programme.code,
        year=year,
        document_id=document_id,
        sent_by=ctx.account_id,
        sent_at=ctx.now,
        on_time=on_time,
    )
    staff = uow.roles.holders(above.id, Role.district_staff)
    rows = []
    for holder in {h.account_id: h for h in staff}.values():
        account = uow.accounts.one(holder.account_id)
        text = gettext(
            account.locale,
            N_(
                "{unit} sent its compiled report on the {programme} plans for {year}, {timing}. The document is attached."
            ),
            unit=unit.name,
            programme=programme.short_name,
            year=year,
            timing=_timing(account.locale, due, on_time),
        )
        message = Outgoing(text, attachment=Attachment(document.id, document.filename))
        row = notice_row(uow, holder.account_id, message, ctx.now, ctx.engine.window)
        if row is not None:
            rows.append(row)
    uow.outbox.queue(rows)
    params = {"year": year, "above": above.name, "timing": _timing(ctx.locale, due, on_time)}
    if rows:
        ctx.say(
            N_(
                "The compiled report on the plans for {year} was sent to {above}, {timing}; {count} of its staff received it."
            ),
            count=len(rows),
            **params,
        )
    else:
        ctx.say(
            N_(
                "The compiled report on the plans for {year} is recorded as sent to {above}, {timing}, but none of its staff uses the bot yet: please send them the file another way too."
            ),
            **params,
        )


def _timing(locale: str, due: date | None, on_time: bool) -> str:
    if due is None:
        return gettext(locale, N_("with no deadline set"))
    return gettext(locale, TIMING_ON_TIME if on_time else TIMING_LATE, due=format_date(due))


# ---- jobs -------------------------------------------------------------------------------------


def _today(job: JobContext) -> date:
    return job.now.astimezone(job.settings.tz).date()


async def _gathered(job: JobContext, gather: Callable[..., Awaitable[D]]) -> tuple[int, int, Programme, D] | None:
    """A document job's unit id, year, the programme covering that year, and the document gathered
    for them (`compiled_document`, `decision_document`); None (answered) when no programme
    covers the year."""
    unit_id, year = int(job.params["unit_id"]), int(job.params["year"])
    programme = _programme(job.settings, year)
    if programme is None:
        await job.reply_text(N_("No programme covers {year}."), year=year)
        return None
    doc = await gather(job.read, unit_id, programme, year, _today(job), job.settings)
    return unit_id, year, programme, doc


async def compiled_job(job: JobContext) -> None:
    gathered = await _gathered(job, compiled_document)
    if gathered is None:
        return
    unit_id, year, programme, doc = gathered
    content = await job.render(render_compiled, doc)
    above = await job.read(lambda uow: level_above(uow, uow.units.one(unit_id)))

    def buttons(uow: UnitOfWork, document_id: int) -> list[list[Button]]:
        if above is None:
            return []
        return [[Button(job.t(SEND_UP, above=above.name), up_payload(uow, document_id, unit_id, year))]]

    counts: dict[str, Any] = {
        "unit": doc.header.unit_name,
        "year": year,
        "programme": programme.short_name,
        "expected": doc.expected,
        "registered": doc.registered,
        "on_time": doc.on_time,
        "late": doc.late,
        "missing": doc.missing,
    }
    if above is not None:
        msgid = N_(
            "The compiled report of {unit} on the {programme} plans for {year}: {registered} of {expected} units registered ({on_time} on time, {late} late), {missing} not yet. Fill in its number and sign it; the button sends it to {above}."
        )
        counts["above"] = above.name
    else:
        msgid = N_(
            "The compiled report of {unit} on the {programme} plans for {year}: {registered} of {expected} units registered ({on_time} on time, {late} late), {missing} not yet. Fill in its number and sign it."
        )
    await job.reply_file(
        content,
        compiled_filename(doc.header.unit_abbr, year),
        msgid,
        kind="compiled",
        buttons_for=buttons,
        **counts,
    )


async def decision_job(job: JobContext) -> None:
    gathered = await _gathered(job, decision_document)
    if gathered is None:
        return
    unit_id, year, programme, doc = gathered
    if not doc.units:
        await job.reply_text(
            N_(
                "No unit reviewed by {unit} has passed for {year} yet, so there is no decision to draw up. The plans are rated at the end of the year."
            ),
            unit=doc.header.unit_name,
            year=year,
        )
        return
    content = await job.render(render_decision, doc)
    await job.reply_file(
        content,
        decision_filename(doc.header.unit_abbr, year),
        N_(
            "The recognition decision of {unit} for {year}: {count} base units passed, listed in its appendix. Fill in its number and sign it."
        ),
        kind="decision",
        unit=doc.header.unit_name,
        year=year,
        count=len(doc.units),
    )


async def export_job(job: JobContext) -> None:
    unit_id, year = int(job.params["unit_id"]), int(job.params["year"])
    unit = await job.read(lambda uow: uow.units.one(unit_id))
    counted: list[int] = [0]

    def progress(done: int, _total: int) -> None:
        counted[0] = done

    counted[0] = await job.read(lambda uow: units_below(uow, unit_id))
    if counted[0] > CHILD_ABOVE and shared_database(job.settings.database_url):
        # A province: in a child process, nothing of it on this one's threads.
        content = await export_elsewhere(job.settings, unit_id, year, job.now)
    else:
        content = await export(job.read, job.render, unit_id, year, job.settings, progress=progress, now=job.now)
    await job.reply_file(
        content,
        export_filename(unit.code, year),
        N_("The spreadsheet of {unit} for {year}: {units} units, one sheet per kind of record."),
        kind="export",
        unit=unit.name,
        year=year,
        units=counted[0],
    )


JOBS = {"compiled": compiled_job, "decision": decision_job, "export": export_job}
