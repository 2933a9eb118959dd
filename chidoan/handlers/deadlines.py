"""/hanchot (/deadline): the deadlines a reviewing unit's staff hold their units to, and moving one.

`/hanchot` lists, for each reviewing unit the person is staff (or admin) of, the plan deadline of
the plan year being registered and this year's dialogue deadline: the programme's, or as moved
(by whom, when). `/hanchot kehoach 20/10/2026` moves the plan deadline of the plan year whose
programme deadline is nearest that date; `/hanchot doithoai 31/12/2026` the dialogue deadline of
that date's year. The date is the first late day ("trước ngày 20/10/2026"): after today, and at
most `MAX_MOVE` from the programme's day.

Nothing is stored before the person presses "Yes" ("dl:y:<reviewer>:<p|d>:<year>:<yyyymmdd>:<row>",
`row` the id of the move in force when asked, 0 for none). The press stores a new row only if
that move is still the one in force, so a second press of the same button, or a button from
before someone else's move, stores nothing. A move counts for the units the reviewing unit
reviews directly (those whose nearest reviewing ancestor it is, as `Calendar` reads it); their
secretaries (else deputies) whose plan or dialogue report is still open and owed are told.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import ascii_int, parse_date, parse_id
from chidoan.engine.messages import BUTTON_GONE, Button
from chidoan.handlers.scope import staff_scope
from chidoan.i18n import N_, fold, format_date
from chidoan.programmes.loader import Programme, programme_for, programmes
from chidoan.reminders.obligations import MAX_MOVE, Calendar, bound
from chidoan.storage.models import ReportKind, ReportStatus, UnitKind

# What may follow /hanchot, typed without accents or spaces: "kế hoạch" = "kehoach" = "plan".
WORDS = {"kehoach": "plan", "plan": "plan", "doithoai": "dialogue", "dialogue": "dialogue"}
CODES = {"plan": "p", "dialogue": "d"}  # in the buttons (Telegram allows 64 bytes)
_ARGS = re.compile(r"^(?P<word>\D*?)\s*(?P<date>\d.*)?$")

WHAT = {
    "plan": N_("the registration of the {programme} plan for {year}"),
    "dialogue": N_("the report of the dialogue of {year}"),
}
NOTICE = {
    "plan": N_(
        "{reviewer} moved the deadline for registering the {programme} plan for {year}: it is now before {new} (it was before {old}). Type /dangky to register it."
    ),
    "dialogue": N_(
        "{reviewer} moved the deadline for reporting the dialogue of {year}: it is now before {new} (it was before {old}). Type /doithoai to report it."
    ),
}


def reviewing_units(ctx: Ctx) -> list[Row]:
    """The reviewing units this person is staff (or admin) of: whose deadlines they may move."""
    found: dict[int, Row] = {}
    for role in staff_scope(ctx):
        unit = ctx.uow.units.one(role.unit_id)
        if unit.reviews:
            found[unit.id] = unit
    return list(found.values())


def deadline_command(ctx: Ctx, args: str) -> None:
    units = reviewing_units(ctx)
    if not units:
        ctx.say(N_("Deadlines are set by the staff of a reviewing union for the units they review."))
        return
    if not args.strip():
        return _list(ctx, units)
    match = _ARGS.match(fold(args))
    obligation = WORDS.get(match["word"].replace(" ", "")) if match else None
    if match is None or obligation is None:
        ctx.say(N_("“{text}” is not a deadline that can be moved."), text=args.strip()[:40])
        return _usage(ctx)
    if match["date"] is None:
        return _usage(ctx)
    parsed = parse_date(match["date"], today=ctx.today)
    if not parsed.ok:
        assert parsed.error is not None
        ctx.say(parsed.error, **parsed.params)
        return
    new = date.fromisoformat(str(parsed.value))
    target = _target(ctx, obligation, new)
    if target is None:
        ctx.say(N_("No programme has such a deadline near {date}."), date=format_date(new))
        return
    programme, year = target
    if not _allowed(ctx, obligation, programme, year, new):
        return
    cal = Calendar.load(ctx.uow, ctx.settings)
    for unit in units:
        _ask(ctx, cal, unit, obligation, programme, year, new)


def _usage(ctx: Ctx) -> None:
    ctx.say(
        N_(
            "To move a deadline of the units you review, type /hanchot kehoach (plan registration) or /hanchot doithoai (dialogue report) and the new date, the first late day, for example /hanchot kehoach {example}."
        ),
        example=format_date(ctx.today + timedelta(days=14)),
    )


def _what(ctx: Ctx, obligation: str, programme: Programme, year: int) -> str:
    return ctx.t(WHAT[obligation], programme=programme.short_name, year=year)


# ---- listing ----------------------------------------------------------------------------------


def _season(ctx: Ctx) -> list[tuple[str, Programme, int]]:
    """The movable deadlines of the season: the plan year being registered (per programme), and
    this year's dialogue."""
    found: list[tuple[str, Programme, int]] = []
    for programme in programmes(ctx.settings).values():
        year = programme.default_plan_year(ctx.today)
        if UnitKind.base_unit in programme.registering_kinds and year is not None:
            found.append(("plan", programme, year))
    current = programme_for(programmes(ctx.settings), ctx.today.year, UnitKind.base_unit)
    if current is not None and current.expectations.dialogues_per_year > 0:
        found.append(("dialogue", current, ctx.today.year))
    return found


def _list(ctx: Ctx, units: list[Row]) -> None:
    cal = Calendar.load(ctx.uow, ctx.settings)
    season = _season(ctx)
    for unit in units:
        lines = [ctx.t(N_("Deadlines of the units {unit} reviews:"), unit=unit.name)]
        for obligation, programme, year in season:
            lines.append(_line(ctx, cal, unit, obligation, programme, year))
        if not season:
            lines.append(ctx.t(N_("No programme has a deadline this season.")))
        ctx.say_text("\n".join(lines))
    _usage(ctx)


def _line(ctx: Ctx, cal: Calendar, unit: Row, obligation: str, programme: Programme, year: int) -> str:
    what = _what(ctx, obligation, programme, year)
    default = Calendar.default_due(obligation, programme, year)
    moved = ctx.uow.deadlines.newest(unit.id, obligation, programme.code, year)
    if moved is None or moved.due_on == default:
        return ctx.t(N_("• {what}: before {due} (the programme's deadline)."), what=what, due=format_date(default))
    return ctx.t(
        N_("• {what}: before {due}, moved by {name} on {date} (the programme's deadline: before {default})."),
        what=what,
        due=format_date(cal.due(unit.id, obligation, programme, year)),
        name=ctx.uow.accounts.one(moved.changed_by).full_name or "?",
        date=format_date(moved.changed_at.astimezone(ctx.tz)),
        default=format_date(default),
    )


# ---- moving -----------------------------------------------------------------------------------


def _target(ctx: Ctx, obligation: str, new: date) -> tuple[Programme, int] | None:
    """Which deadline a new date is for: the plan year whose programme deadline is nearest it
    (among the covered years of programmes base units register under), or the dialogue of the
    date's year."""
    every = programmes(ctx.settings)
    if obligation == "dialogue":
        programme = programme_for(every, new.year, UnitKind.base_unit)
        if programme is None or programme.expectations.dialogues_per_year == 0:
            return None
        return programme, new.year
    years = [
        (abs(p.registration_due(y) - new), p, y)
        for p in every.values()
        if UnitKind.base_unit in p.registering_kinds
        for y in range(p.first_year, p.last_year + 1)
    ]
    if not years:
        return None
    _distance, programme, year = min(years, key=lambda found: found[0])
    return programme, year


def _allowed(ctx: Ctx, obligation: str, programme: Programme, year: int, new: date) -> bool:
    """Whether `new` may be this deadline's day; if not, the person is told why."""
    default = Calendar.default_due(obligation, programme, year)
    if new <= ctx.today:
        ctx.say(
            N_(
                "The new deadline must be after today: a deadline “before {date}” would already have passed. Please choose a later date."
            ),
            date=format_date(new),
        )
        return False
    if abs(new - default) > MAX_MOVE:
        ctx.say(
            N_(
                "The deadline for {what} can be moved by at most {days} days from the programme's (before {default}), so not to before {date}."
            ),
            what=_what(ctx, obligation, programme, year),
            days=MAX_MOVE.days,
            default=format_date(default),
            date=format_date(new),
        )
        return False
    return True


def _ask(ctx: Ctx, cal: Calendar, unit: Row, obligation: str, programme: Programme, year: int, new: date) -> None:
    old = cal.due(unit.id, obligation, programme, year)
    what = _what(ctx, obligation, programme, year)
    if old == new:
        ctx.say(
            N_("{unit}: the deadline for {what} is already before {date}."),
            unit=unit.name,
            what=what,
            date=format_date(new),
        )
        return
    moved = ctx.uow.deadlines.newest(unit.id, obligation, programme.code, year)
    payload = f"dl:y:{unit.id}:{CODES[obligation]}:{year}:{new:%Y%m%d}:{moved.id if moved else 0}"
    ctx.say(
        N_(
            "{unit}: move the deadline for {what} from before {old} to before {new}? It applies to the units {unit} reviews directly; their secretaries whose report is still open will be told."
        ),
        unit=unit.name,
        what=what,
        old=format_date(old),
        new=format_date(new),
        buttons=[[Button(ctx.t(N_("✅ Yes, move it")), payload), Button(ctx.t(N_("No")), "dl:n")]],
    )


def deadline_action(ctx: Ctx, arg: str) -> None:
    """Buttons "dl:y:…" (store the move asked about) and "dl:n"."""
    what, _, rest = arg.partition(":")
    if what == "n":
        ctx.say(N_("All right, the deadline was not changed."))
        return
    parts = rest.split(":")
    if what != "y" or len(parts) != 5:
        ctx.say(BUTTON_GONE)
        return
    unit_id, code, year, day, token = parse_id(parts[0]), parts[1], ascii_int(parts[2], 4), parts[3], parts[4]
    obligation = next((o for o, c in CODES.items() if c == code), None)
    unit = next((u for u in reviewing_units(ctx) if u.id == unit_id), None)
    new = _day(day)
    programme = programme_for(programmes(ctx.settings), year, UnitKind.base_unit) if year else None
    if unit is None or obligation is None or year is None or new is None or programme is None:
        ctx.say(BUTTON_GONE)
        return
    moved = ctx.uow.deadlines.newest(unit.id, obligation, programme.code, year)
    if (moved.id if moved else 0) != ascii_int(token, 19):
        if moved is not None and moved.due_on == new and moved.changed_by == ctx.account_id:
            ctx.say(
                N_("Already saved: the deadline for {what} is before {date}."),
                what=_what(ctx, obligation, programme, year),
                date=format_date(new),
            )
        else:  # moved again since the question was asked
            ctx.say(BUTTON_GONE)
        return
    if not _allowed(ctx, obligation, programme, year, new):  # e.g. pressed days later
        return
    cal = Calendar.load(ctx.uow, ctx.settings)
    old = cal.due(unit.id, obligation, programme, year)
    ctx.uow.deadlines.move(
        reviewer_id=unit.id,
        obligation=obligation,
        programme=programme.code,
        year=year,
        due_on=new,
        by=ctx.account_id,
        now=ctx.now,
    )
    cal.moved[(unit.id, obligation, programme.code, year)] = new
    told = _tell(ctx, cal, unit, obligation, programme, year, old, new)
    ctx.say(
        N_(
            "Saved. For the units {unit} reviews, the deadline for {what} is now before {new} (it was before {old}). {n} secretaries whose report is still open were told."
        ),
        unit=unit.name,
        what=_what(ctx, obligation, programme, year),
        new=format_date(new),
        old=format_date(old),
        n=told,
    )


def _day(text: str) -> date | None:
    if ascii_int(text, 8) is None or len(text) != 8:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _tell(
    ctx: Ctx, cal: Calendar, reviewer: Row, obligation: str, programme: Programme, year: int, old: date, new: date
) -> int:
    """Tell the secretaries (else deputies) of the base units `reviewer` reviews directly whose
    plan (or dialogue report) is still open and owed under the moved deadline. Returns how many."""
    units = [
        u for u in ctx.uow.units.subtree(reviewer) if u.kind == UnitKind.base_unit and cal.reviewer_id(u) == reviewer.id
    ]
    if not units:
        return 0
    people, starts = bound(ctx.uow, [u.id for u in units], ctx.tz)
    told = 0
    for unit in units:
        if not cal.owes(new, starts.get(unit.id)) or _done(ctx, unit, obligation, programme, year):
            continue
        for account_id in people.get(unit.id, ()):
            ctx.notify(
                account_id,
                NOTICE[obligation],
                reviewer=reviewer.name,
                programme=programme.short_name,
                year=year,
                new=format_date(new),
                old=format_date(old),
            )
            told += 1
    return told


def _done(ctx: Ctx, unit: Row, obligation: str, programme: Programme, year: int) -> bool:
    if obligation == "plan":
        registration = ctx.uow.registrations.find(unit.id, programme.code, year)
        return registration is not None and registration.version > 0
    return any(
        r.status != ReportStatus.withdrawn and r.held_on.year == year
        for r in ctx.uow.reports.of_unit(unit.id, ReportKind.dialogue)
    )
