"""/trangthai for reviewing staff: where the units below them stand for the current plan year
(chidoan/review/status.py), totals and rates first, then one line per unit, 20 a page; a
province's staff see it rolled up per reviewing unit below them, with a button to drill down;
and a chart of the completion, rendered after the reply off the database thread (a job).

One command serves both sides: a secretary or deputy gets their own unit's obligations
(registration.status_command), staff get this, someone who is both gets both.

Buttons carry "st:<root id>:<filter>:<page>:<plan year>"; every id is parsed and the unit checked
against the person's scope again, so a button forged with another unit's id is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import Row, select

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import ascii_int, parse_id
from chidoan.engine.jobs import JobContext
from chidoan.engine.messages import BUTTON_GONE, Button, Outgoing, clip_label
from chidoan.handlers import registration
from chidoan.handlers.access import SECRETARIES
from chidoan.handlers.scope import find_units, in_scope, staff_scope
from chidoan.i18n import N_, fold, format_date
from chidoan.programmes.loader import Programme, programmes
from chidoan.reminders.obligations import Calendar
from chidoan.review.status import (
    CHUNK,
    Group,
    Status,
    Totals,
    UnitStatus,
    assemble,
    compiled_reports,
    count_units,
    groups_of,
    status_chunk,
    status_of,
    totals_of,
)
from chidoan.storage.models import OrgUnit, table
from chidoan.storage.rows import among
from chidoan.storage.uow import UnitOfWork

UNIT = table(OrgUnit)
PAGE = 20  # units (or reviewing units) a page
MAX_REPLY = 4000  # characters in one message
REGISTRATION_SEASON = timedelta(days=30)  # next year's plan is followed from a month before its deadline
NO_PICTURES = frozenset({"zalo_bot"})  # channels that cannot carry a picture: no chart there

FILTERS = ("all", "dir", "tre", "chua")  # every unit; the root's own; late; not sent
FILTER_WORDS = {"tre": "tre", "late": "tre", "chua": "chua", "missing": "chua", "chuagui": "chua"}

EMOJI = {
    "not_required": "⚪",
    "missing": "⏳",
    "draft": "📝",
    "submitted_on_time": "✅",
    "submitted_late": "🕓",
    "returned": "↩️",
    "accepted": "☑️",
    "passed": "🏅",
    "not_passed": "⛔",
}
OVERDUE = "❌"
STATE_NAMES = {
    "not_required": N_("not required"),
    "missing": N_("not sent"),
    "draft": N_("draft"),
    "submitted_on_time": N_("sent on time"),
    "submitted_late": N_("sent late"),
    "returned": N_("returned for correction"),
    "accepted": N_("accepted"),
    "passed": N_("passed"),
    "not_passed": N_("not passed"),
}


class Speaker(Protocol):
    """Who words a reply: the handler's Ctx, or a job's JobContext (both speak the asker's language)."""

    def t(self, msgid: str, **params: object) -> str: ...


# ---- which plan year ------------------------------------------------------------------------


def current_year(programme: Programme, today: date) -> int | None:
    """The plan year a reviewing unit follows now: next year's from a month before its
    registration deadline (the season /dangky and the reminders open), else this year's."""
    following = today.year + 1
    if programme.covers(following) and today >= programme.registration_due(following) - REGISTRATION_SEASON:
        return following
    return today.year if programme.covers(today.year) else None


def current_programmes(ctx: Ctx) -> list[tuple[Programme, int]]:
    found = []
    for programme in sorted(programmes(ctx.settings).values(), key=lambda p: p.code):
        year = current_year(programme, ctx.today)
        if year is not None:
            found.append((programme, year))
    return found


def programme_of(ctx: Ctx, year: int) -> Programme | None:
    return programme_for_year(ctx.settings, year)


def programme_for_year(settings, year: int) -> Programme | None:
    return next((p for p in sorted(programmes(settings).values(), key=lambda p: p.code) if p.covers(year)), None)


# ---- the command ------------------------------------------------------------------------------


def status_command(ctx: Ctx, args: str) -> None:
    """/trangthai: staff get the status of their subtree; a secretary or deputy their own
    unit's obligations; someone who is both, both."""
    staff = bool(staff_scope(ctx))
    secretary = any(r.role in SECRETARIES for r in ctx.roles)
    if secretary:
        registration.status_command(ctx, args)
    if staff:
        staff_status(ctx, args)
    elif not secretary:
        ctx.say(N_("The status of the units is for the staff of a reviewing union."))


def staff_status(ctx: Ctx, args: str) -> None:
    words = args.split()
    flt = "all"
    year: int | None = None
    rest = []
    for word in words:
        folded = fold(word)
        if folded in FILTER_WORDS and flt == "all":
            flt = FILTER_WORDS[folded]
        elif year is None and (value := ascii_int(word, 4)) is not None and programme_of(ctx, value):
            year = value
        else:
            rest.append(word)
    plans = current_programmes(ctx)
    if year is not None:
        chosen = programme_of(ctx, year)
        plans = [(chosen, year)] if chosen else []
    if not plans:
        ctx.say(N_("No programme is being followed now."))
        return
    roots = [ctx.uow.units.one(r.unit_id) for r in staff_scope(ctx)]
    if rest:
        text = " ".join(rest)
        found = find_units(ctx, text)
        if not found:
            ctx.say(N_("No unit in your area matches “{text}”."), text=text[:60])
            return
        if len(found) > 1:
            _choose(ctx, found, plans[0][1])
            return
        roots = found
    for programme, plan_year in plans:
        for root in roots:
            show(ctx, root, programme, plan_year, flt, 0, chart=flt in ("all", "dir"))


def _choose(ctx: Ctx, units: list[Row], year: int) -> None:
    buttons = [[Button(f"{u.name} ({u.code})", f"st:{u.id}:all:0:{year}")] for u in units[:10]]
    ctx.say(N_("Several units match. Which one?"), buttons=buttons)


def status_action(ctx: Ctx, arg: str) -> None:
    """A page, a filter or a drill-down button: "<root id>:<filter>:<page>:<year>"."""
    button = page_button(ctx, arg, FILTERS)
    if button is None:
        return
    root, what, page, programme, year = button
    show(ctx, root, programme, year, what, page, chart=page == 0 and what != "tre" and what != "chua")


def page_button(ctx: Ctx, arg: str, allowed: Iterable[str]) -> tuple[Row, str, int, Programme, int] | None:
    """A page button's "<root id>:<what>:<page>:<year>", parsed (forged input) and the root checked
    against the person's scope again: (root, what, page, programme, year), or None when answered."""
    parts = arg.split(":")
    if len(parts) != 4 or parts[1] not in allowed:
        ctx.say(BUTTON_GONE)
        return None
    root_id, page, year = parse_id(parts[0]), ascii_int(parts[2], 4), ascii_int(parts[3], 4)
    root = ctx.uow.units.get(root_id) if root_id is not None else None
    programme = programme_of(ctx, year) if year is not None else None
    if root is None or page is None or programme is None or year is None:
        ctx.say(BUTTON_GONE)
        return None
    if not in_scope(ctx, root):
        ctx.say(N_("That unit is outside the area you review."))
        return None
    return root, parts[1], page, programme, year


# ---- the reply ----------------------------------------------------------------------------------


def show(ctx: Ctx, root: Row, programme: Programme, year: int, flt: str, page: int, *, chart: bool) -> None:
    """The reply: made here for a district; for a subtree of more than CHUNK registering units (a
    province) made by a job that reads it in chunks, each its own short transaction, so that
    nobody's reply waits behind a province's status."""
    chart = chart and ctx.incoming.channel not in NO_PICTURES
    count = count_units(ctx.uow, root, programme)
    if count > CHUNK:
        ctx.say(N_("{unit}: gathering the status of {count} units…"), unit=root.name, count=count)
        ctx.later("status_reply", root=root.id, filter=flt, page=page, year=year, chart=chart)
        return
    cal = Calendar.load(ctx.uow, ctx.settings)
    status = status_of(ctx.uow, root, programme, year, today=ctx.today, settings=ctx.settings, cal=cal)
    text, buttons, picture = compose(ctx, root, programme, status, facts_of(ctx.uow, root, status), flt, page)
    ctx.say_text(text, buttons=buttons)
    if chart and picture is not None:
        ctx.later("status_chart", **picture)


async def status_reply(job: JobContext) -> None:
    """The job of a large subtree: read in chunks, then the same reply and chart."""
    params, settings = job.params, job.settings
    today = job.now.astimezone(settings.tz).date()
    programme = programme_for_year(settings, params["year"])
    if programme is None:
        raise LookupError(f"no programme covers {params['year']}")
    root, cal = await job.read(lambda uow: (uow.units.one(params["root"]), Calendar.load(uow, settings)))
    status = await read_status(job, root, programme, params["year"], today, cal)
    facts = await job.read(lambda uow: facts_of(uow, root, status))
    text, buttons, picture = compose(job, root, programme, status, facts, params["filter"], params["page"])
    await job.reply(Outgoing(text, buttons).with_hint(job.locale))
    if params["chart"] and picture is not None:
        await _send_chart(job, picture)


async def read_status(
    job: JobContext, root: Row, programme: Programme, year: int, today: date, cal: Calendar
) -> Status:
    """A large subtree's status read in chunks of CHUNK units, each its own short transaction."""
    units: list[UnitStatus] = []
    after: str | None = ""
    while after is not None:
        read = partial(status_chunk, root=root, programme=programme, year=year, today=today, cal=cal)
        chunk, after = await job.read(partial(read, after=after, limit=CHUNK))
        units += chunk
    return assemble(root, programme, year, units, today=today)


@dataclass(frozen=True)
class Facts:
    """What a reply names besides the status: the reviewing units of a roll-up and the compiled
    reports they sent (read beside the status)."""

    names: dict[int, str]
    sent: dict[int, Row]


def facts_of(uow: UnitOfWork, root: Row, status: Status) -> Facts:
    ids = sorted({u.reviewer_id for u in status.units if u.reviewer_id is not None})
    names = {u.id: u.name for u in uow.conn.execute(select(UNIT.c.id, UNIT.c.name).where(among(UNIT.c.id, ids)))}
    below = [i for i in ids if i != root.id]
    return Facts(names, compiled_reports(uow, below, status.programme, status.year) if below else {})


def compose(
    who: Speaker, root: Row, programme: Programme, status: Status, facts: Facts, flt: str, page: int
) -> tuple[str, list[list[Button]], dict | None]:
    """The reply's text and buttons, and what its chart shows (None: no chart for one unit)."""
    groups = groups_of(status)
    rolled = flt == "all" and len(groups) > 1 and any(g.reviewer_id != root.id for g in groups)
    if rolled:
        text, buttons = rollup(who, root, programme, status, groups, facts, page)
    else:
        text, buttons = unit_list(who, root, programme, status, flt, page)
    picture = chart_params(who, root, status, groups if rolled else None, facts) if len(status.units) > 1 else None
    return text, buttons, picture


def header(who: Speaker, root: Row, programme: Programme, status: Status, totals: Totals) -> list[str]:
    t = who.t
    lines = [
        t(
            N_("📊 {unit}: {programme} {year} (plans due before {due})"),
            unit=root.name,
            programme=programme.short_name,
            year=status.year,
            due=format_date(status.due),
        )
    ]
    if not totals.units:
        lines.append(t(N_("No unit here registers under this programme.")))
        return lines
    lines.append(
        t(
            N_("Plans sent: {sent}/{expected} ({rate}) · on time {on_time}/{expected} ({on_time_rate})"),
            sent=totals.submitted,
            expected=totals.expected,
            rate=_pct(totals.reporting_rate),
            on_time=totals.on_time,
            on_time_rate=_pct(totals.on_time_rate),
        )
    )
    lines.append(
        t(
            N_(
                "Late {late} · not sent {missing} (overdue {overdue}) · returned {returned} · not required {not_required}"
            ),
            late=totals.late,
            missing=totals.missing,
            overdue=totals.overdue,
            returned=totals.returned,
            not_required=totals.not_required,
        )
    )
    if totals.accepted or totals.passed or totals.not_passed:
        lines.append(
            t(
                N_("Accepted {accepted} · passed {passed} · not passed {not_passed}"),
                accepted=totals.accepted,
                passed=totals.passed,
                not_passed=totals.not_passed,
            )
        )
    lines.append(
        t(
            N_(
                "Meetings {year}: {meetings}/{expected} expected so far ({rate}), {month} this month · dialogues: {dialogues}/{units} units ({dialogue_rate}) · open commitments {commitments}"
            ),
            year=status.as_of.year,
            meetings=totals.meetings_year,
            expected=totals.meetings_expected,
            rate=_pct(totals.meeting_rate),
            month=totals.meetings_month,
            dialogues=totals.dialogue_units,
            units=totals.units,
            dialogue_rate=_pct(totals.dialogue_rate),
            commitments=totals.open_commitments,
        )
    )
    if totals.no_secretary:
        lines.append(t(N_("Without a secretary on the bot: {count} units."), count=totals.no_secretary))
    return lines


def _pct(rate: float) -> str:
    return f"{round(rate * 100)}%"


def unit_line(who: Speaker, unit: UnitStatus) -> str:
    emoji = OVERDUE if unit.overdue else EMOJI[unit.registration]
    line = who.t(
        N_("{emoji} {name} ({code}) · mt {month}/{year} · dl {dialogues} · cm {commitments}"),
        emoji=emoji,
        name=unit.name,
        code=unit.code,
        month=unit.meetings_month,
        year=unit.meetings_year,
        dialogues=unit.dialogues_year,
        commitments=unit.open_commitments,
    )
    return line if unit.has_secretary else line + " · " + who.t(N_("no secretary"))


def legend(who: Speaker) -> str:
    return who.t(
        N_(
            "✅ on time · 🕓 late · ❌ overdue · ⏳ not due yet · 📝 draft · ↩️ returned · ☑️ accepted · 🏅 passed · ⛔ not passed · ⚪ not required; mt meetings this month/year, dl dialogues, cm open commitments"
        )
    )


def _selected(status: Status, flt: str) -> list[UnitStatus]:
    """The units a list shows, by name (read as people read them, not by id)."""
    if flt == "dir":
        units = [u for u in status.units if u.reviewer_id == status.root_id]
    elif flt == "tre":
        units = [u for u in status.units if u.late]
    elif flt == "chua":
        units = [u for u in status.units if u.expected and not u.submitted]
    else:
        units = status.units
    return sorted(units, key=lambda u: (fold(u.name), u.code))


def unit_list(
    who: Speaker, root: Row, programme: Programme, status: Status, flt: str, page: int
) -> tuple[str, list[list[Button]]]:
    units = _selected(status, flt)
    pages = max(1, -(-len(units) // PAGE))
    page = min(page, pages - 1)
    lines = header(who, root, programme, status, status.totals if flt == "all" else _totals(status, flt))
    if status.units:
        heading = {
            "all": N_("Units, page {page}/{pages}:"),
            "dir": N_("Units reviewed directly by {unit}, page {page}/{pages}:"),
            "tre": N_("Late units, page {page}/{pages}:"),
            "chua": N_("Units that have not sent their plan, page {page}/{pages}:"),
        }[flt]
        lines += ["", who.t(heading, page=page + 1, pages=pages, unit=root.name)]
        shown = [unit_line(who, u) for u in units[page * PAGE : (page + 1) * PAGE]]
        lines += shown or [who.t(N_("(none)"))]
        lines += ["", legend(who)]
    return _fit(lines), _pager(who, root.id, flt, page, pages, status.year)


def _totals(status: Status, flt: str) -> Totals:
    return totals_of([u for u in status.units if u.reviewer_id == status.root_id]) if flt == "dir" else status.totals


def _pager(who: Speaker, root_id: int, flt: str, page: int, pages: int, year: int) -> list[list[Button]]:
    row = []
    if page > 0:
        row.append(Button(who.t(N_("◀ Previous")), f"st:{root_id}:{flt}:{page - 1}:{year}"))
    if page + 1 < pages:
        row.append(Button(who.t(N_("Next ▶")), f"st:{root_id}:{flt}:{page + 1}:{year}"))
    return [row] if row else []


def _fit(lines: list[str]) -> str:
    """Within one message: lines dropped from the end of the list (before the legend) if needed."""
    text = "\n".join(lines)
    while len(text) > MAX_REPLY and len(lines) > 3:
        lines = lines[:-3] + ["…"] + lines[-2:]
        text = "\n".join(lines)
    return text[:MAX_REPLY]


def rollup(
    who: Speaker, root: Row, programme: Programme, status: Status, groups: list[Group], facts: Facts, page: int
) -> tuple[str, list[list[Button]]]:
    """A province's view: one line per reviewing unit below it (its rates and whether it sent its
    compiled report), its own base units as one group, a button to drill down into each."""
    sent = facts.sent
    pages = max(1, -(-len(groups) // PAGE))
    page = min(page, pages - 1)
    lines = header(who, root, programme, status, status.totals)
    lines += ["", who.t(N_("By reviewing union, page {page}/{pages}:"), page=page + 1, pages=pages)]
    buttons: list[list[Button]] = []
    for group in groups[page * PAGE : (page + 1) * PAGE]:
        own = group.reviewer_id is None or group.reviewer_id == root.id
        name = _group_name(who, root, group, facts.names)
        line = who.t(
            N_("{name}: plans {sent}/{expected} ({rate}), on time {on_time_rate} · dialogues {dialogue_rate}"),
            name=name,
            sent=group.totals.submitted,
            expected=group.totals.expected,
            rate=_pct(group.totals.reporting_rate),
            on_time_rate=_pct(group.totals.on_time_rate),
            dialogue_rate=_pct(group.totals.dialogue_rate),
        )
        if not own:
            report = sent.get(group.reviewer_id)  # type: ignore[arg-type]  # not None: not own
            due = programme.district_report_due(status.year)  # None: the programme asks for none
            if report is None and due is not None:
                line += " · " + who.t(N_("compiled report (due {due}) not sent"), due=format_date(due))
            elif report is not None:
                line += " · " + who.t(
                    N_("compiled report sent on time") if report.on_time else N_("compiled report sent late")
                )
        lines.append("• " + line)
        target = f"st:{root.id}:dir:0:{status.year}" if own else f"st:{group.reviewer_id}:all:0:{status.year}"
        label = f"{name} ({_pct(group.totals.reporting_rate)})"
        buttons.append([Button(clip_label(label, 60), target)])
    buttons += _pager(who, root.id, "all", page, pages, status.year)
    return _fit(lines), buttons


def _group_name(who: Speaker, root: Row, group: Group, names: dict[int, str]) -> str:
    if group.reviewer_id is None or group.reviewer_id == root.id or group.reviewer_id not in names:
        return who.t(N_("Directly under {unit}"), unit=root.name)
    return names[group.reviewer_id]


# ---- the chart ----------------------------------------------------------------------------------

CHART_STATES = ("on_time", "late", "not_sent", "not_required")
CHART_COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "not_sent": "#c62828", "not_required": "#bdbdbd"}


def _chart_counts(units: list[UnitStatus]) -> dict[str, int]:
    counts = dict.fromkeys(CHART_STATES, 0)
    for u in units:
        if not u.expected:
            counts["not_required"] += 1
        elif not u.submitted:
            counts["not_sent"] += 1
        elif u.on_time:
            counts["on_time"] += 1
        else:
            counts["late"] += 1
    return counts


def chart_params(who: Speaker, root: Row, status: Status, groups: list[Group] | None, facts: Facts) -> dict:
    """What the chart shows, worded in the asker's language, as JSON for the job: one stacked bar
    per reviewing unit (a province), or one bar per registration state (a district)."""
    t = who.t
    title = t(N_("{unit}: plans for {year}"), unit=root.name, year=status.year)
    if groups is not None:
        bars = [
            {
                "label": _group_name(who, root, g, facts.names),
                "counts": _chart_counts(g.units),
            }
            for g in groups[:40]
        ]
        legend_names = {
            "on_time": t(N_("sent on time")),
            "late": t(N_("sent late")),
            "not_sent": t(N_("not sent")),
            "not_required": t(N_("not required")),
        }
        return {"shape": "stacked", "title": title, "bars": bars, "legend": legend_names}
    counts: dict[str, int] = {}
    for u in status.units:
        state = "overdue" if u.overdue else u.registration
        counts[state] = counts.get(state, 0) + 1
    names = {state: t(name) for state, name in STATE_NAMES.items()} | {"overdue": t(N_("overdue"))}
    shown: list[dict[str, object]] = [
        {"label": names[s], "count": counts[s], "state": s} for s in (*STATE_NAMES, "overdue") if counts.get(s)
    ]
    return {"shape": "states", "title": title, "bars": shown, "units": len(status.units)}


STATE_COLOURS = {
    "not_required": "#bdbdbd",
    "missing": "#90a4ae",
    "overdue": "#c62828",
    "draft": "#8d6e63",
    "submitted_on_time": "#2e7d32",
    "submitted_late": "#f9a825",
    "returned": "#6a1b9a",
    "accepted": "#1565c0",
    "passed": "#00897b",
    "not_passed": "#d84315",
}


def render_chart(params: dict) -> bytes:
    """The PNG (matplotlib, Agg; DejaVu Sans carries Vietnamese)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    bars = params["bars"]
    height = 1.2 + 0.38 * max(3, len(bars))
    fig = Figure(figsize=(8, height), dpi=100)
    ax = fig.subplots()
    labels = [b["label"][:40] for b in bars][::-1]
    if params["shape"] == "stacked":
        left = [0] * len(bars)
        for state in CHART_STATES:
            values = [b["counts"][state] for b in bars][::-1]
            ax.barh(labels, values, left=left, color=CHART_COLOURS[state], label=params["legend"][state])
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False, fontsize=8)
    else:
        values = [b["count"] for b in bars][::-1]
        colours = [STATE_COLOURS[b["state"]] for b in bars][::-1]
        ax.barh(labels, values, color=colours)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value}", va="center", fontsize=8)
    ax.set_title(params["title"], fontsize=10, pad=26 if params["shape"] == "stacked" else 6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


async def status_chart(job: JobContext) -> None:
    """The job: render the chart off the database thread, then send it as a picture."""
    await _send_chart(job, job.params)


async def _send_chart(job: JobContext, params: dict) -> None:
    png = await job.render(render_chart, params)
    await job.reply_file(
        png, "trangthai.png", N_("Chart: {title}"), kind="status_chart", media="photo", title=params["title"]
    )
