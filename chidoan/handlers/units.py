"""The units one may see, and one unit's page: /donvi (list and search) and /xem (drill-down).

Whoever holds a role sees the subtree of each unit they hold it on (handlers/scope.py): the
reviewing staff their reviewing unit's, a base unit's secretary their unit and its branches, a
branch's secretary their branch. `/donvi` lists that subtree as an indented tree with the codes,
20 a page, or searches it by code or by name typed with or without accents. `/xem CODE` (or a
name) opens one unit's page: who holds its roles, its merger history, and buttons for its plan
(the .docx, the tasks, every version and the review history), its meeting and dialogue reports
of the year (its branches' too; a report opens with its photos) and its commitments with their
follow-up answers.

Every button ("un:<what>:<id>…") carries a unit's or a report's id: it is read with parse_id and
checked with `can_see` again, so a button forged with another unit's id is refused; a code or
name outside one's subtree gets the same answer as one that does not exist.
"""

from __future__ import annotations

import re

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import ascii_int, has_words, parse_id
from chidoan.engine.messages import BUTTON_GONE, Button, clip_label
from chidoan.handlers.commitments import ANSWERS as FOLLOW_UP_LABELS
from chidoan.handlers.labels import KIND_LABELS, ROLE_LABELS
from chidoan.handlers.reports import STATUS_LABELS, show_report
from chidoan.handlers.scope import can_see, find_units, visible_roots
from chidoan.i18n import N_, fold, format_date
from chidoan.programmes.loader import programmes
from chidoan.storage.models import (
    KIND_LEVEL,
    CommitmentStatus,
    RegistrationStatus,
    ReportKind,
    ReportStatus,
    ReviewResult,
    Role,
    UnitKind,
)

PAGE = 20  # units a page of /donvi
OUTLINE_MAX = 1000  # a subtree up to this size is listed siblings by name (read whole: ~10 ms)
REPORTS_PAGE = 10  # reports or commitments a page of a unit's section
FOUND_MAX = 20  # search results shown (one more is read, to know there are more)
QUERY_MAX = 100  # characters of a search read: enough for a name, never thousands of LIKEs
LABEL_MAX = 48  # a button's unit name, clipped

_DIGITS = re.compile(r"(\d+)")
INVALID = BUTTON_GONE
NOBODY = N_("nobody has joined yet")
EXPECTED = N_("expected result")
NOT_FOUND = N_("There is no unit with the code or name “{text}” among the units you can see.")

REPORT_KINDS = {"m": ReportKind.meeting, "d": ReportKind.dialogue}
# Whose reports a unit's page lists: a base unit's (and its branches'), a branch's; a reviewing
# unit's staff drill down to its units instead (their subtree is hundreds of units).
REPORTING = (UnitKind.base_unit, UnitKind.branch_group, UnitKind.branch)
REGISTRATION_STATES = {
    RegistrationStatus.submitted: N_("submitted, waiting for review"),
    RegistrationStatus.returned: N_("returned for correction"),
    RegistrationStatus.reviewed: N_("reviewed"),
}
RESULTS = {ReviewResult.passed: N_("passed"), ReviewResult.not_passed: N_("not passed")}
# review_action.action as the review commands write it (storage/reviews.py); another shows as stored.
REVIEW_ACTIONS = {
    "accept": N_("accepted"),
    "return": N_("returned for correction"),
    "rate": N_("rated a task"),
    "result": N_("rated the year"),
}


# ---- /donvi ---------------------------------------------------------------------------------


def units_command(ctx: Ctx, args: str) -> None:
    """/donvi: the units in one's subtree; /donvi <code or words of a name>: search it."""
    text = args.strip()
    if text:
        return search(ctx, text)
    roots = _roots(ctx)
    if not roots:
        ctx.say(N_("You do not hold a role on any unit, so there are no units to show."))
        return
    if len(roots) == 1:
        return list_units(ctx, roots[0], 1)
    ctx.say(
        N_("You hold roles on several units. Which one's units?"),
        buttons=[[Button(_label(ctx, root), f"un:ls:{root.id}:1")] for root in roots],
    )


def _roots(ctx: Ctx) -> list[Row]:
    """The units whose subtrees this person sees, none inside another's."""
    paths = sorted({role.path: role.unit_id for role in visible_roots(ctx)}.items())
    tops: list[tuple[str, int]] = []
    for path, unit_id in paths:  # sorted: a unit comes after every unit above it
        if not any(path.startswith(top) for top, _ in tops):
            tops.append((path, unit_id))
    return [unit for _path, unit_id in tops if (unit := ctx.uow.units.get(unit_id)) is not None]


def list_units(ctx: Ctx, root: Row, page: int) -> None:
    total = ctx.uow.units.subtree_count(root)
    page, pages, offset = _paged(total, page, PAGE)
    depth = root.path.count("/")
    lines = [
        ctx.t(
            N_("Units of {unit} ({code}): {total} in all, page {page} of {pages}."),
            unit=root.name,
            code=root.code,
            total=total,
            page=page,
            pages=pages,
        ),
        "",
    ]
    for unit in _page_of_tree(ctx, root, total, offset):
        indent = "    " * (unit.path.count("/") - depth)
        line = f"{indent}• {_kind(ctx, unit)}: {unit.name} — {unit.code}"
        if unit.merged_into is not None:
            line += " " + ctx.t(N_("(merged)"))
        lines.append(line)
    lines += ["", ctx.t(N_("Type /xem and a code to open a unit, or /donvi and a few words of a name to search."))]
    ctx.say_text("\n".join(lines), buttons=_nav(ctx, f"un:ls:{root.id}", page, pages))


def _page_of_tree(ctx: Ctx, root: Row, total: int, offset: int) -> list[Row]:
    """One page of the subtree in reading order: each unit under its parent, siblings by kind then
    by name ("Khu phố 2" before "Khu phố 10"). Past OUTLINE_MAX units (a province's thousands)
    the order is the stored paths': still each unit under its parent, siblings as created."""
    if total > OUTLINE_MAX:
        return ctx.uow.units.subtree_page(root, offset=offset, limit=PAGE)
    children: dict[int | None, list[Row]] = {}
    for row in ctx.uow.units.outline(root):
        children.setdefault(row.parent_id, []).append(row)
    order: list[int] = []
    stack = [root.id]
    while stack:
        unit_id = stack.pop()
        order.append(unit_id)
        below = sorted(children.get(unit_id, []), key=_sibling_order)
        stack += [child.id for child in reversed(below)]
    ids = order[offset : offset + PAGE]
    rows = ctx.uow.units.many(ids)
    return [rows[i] for i in ids if i in rows]


def _sibling_order(unit: Row) -> tuple:
    level = KIND_LEVEL.get(UnitKind(unit.kind), 9) if unit.kind in set(UnitKind) else 9
    # The split's odd parts are the regex's digit runs, the only numbers: "1²" is 1 then the text
    # "²" ("²".isdigit() is True, but int("²") fails); text and numbers alternate, so never meet.
    parts = _DIGITS.split(fold(unit.name))
    return (level, [int(part) if i % 2 else part for i, part in enumerate(parts)])


def search(ctx: Ctx, text: str) -> None:
    if not has_words(text):
        ctx.say(N_("Type a unit's code or a few words of its name, for example: /donvi vinh bao"))
        return
    found = find_units(ctx, text[:QUERY_MAX], staff_only=False, limit=FOUND_MAX + 1)
    if not found:
        ctx.say(NOT_FOUND, text=text[:64])
        return
    lines = [ctx.t(N_("Units found for “{text}”:"), text=text[:64])]
    lines += [f"• {_kind(ctx, u)}: {u.name} — {u.code}" for u in found[:FOUND_MAX]]
    if len(found) > FOUND_MAX:
        lines.append(ctx.t(N_("There are more than {n}: type more words of the name."), n=FOUND_MAX))
    lines.append(ctx.t(N_("Press one to open it.")))
    buttons = [[Button(_label(ctx, u), f"un:open:{u.id}")] for u in found[:FOUND_MAX]]
    ctx.say_text("\n".join(lines), buttons=buttons)


# ---- /xem -------------------------------------------------------------------------------------


def view_command(ctx: Ctx, args: str) -> None:
    """/xem CODE, or /xem <words of a name>: one unit's page; several matches: a choice."""
    text = args.strip()
    if not text or not has_words(text):
        ctx.say(N_("Type /xem and a unit's code or name, for example: /xem {example}"), example=_example(ctx))
        return
    found = find_units(ctx, text[:QUERY_MAX], staff_only=False, limit=FOUND_MAX + 1)
    exact = [u for u in found if u.code.upper() == text.upper()]
    if exact or len(found) == 1:
        return show_unit(ctx, (exact or found)[0])
    if not found:
        ctx.say(NOT_FOUND, text=text[:64])
        return
    lines = [ctx.t(N_("Several units match “{text}”. Which one?"), text=text[:64])]
    if len(found) > FOUND_MAX:
        lines.append(ctx.t(N_("There are more than {n}: type more words of the name."), n=FOUND_MAX))
    buttons = [[Button(_label(ctx, u), f"un:open:{u.id}")] for u in found[:FOUND_MAX]]
    ctx.say_text("\n".join(lines), buttons=buttons)


def _example(ctx: Ctx) -> str:
    roots = _roots(ctx)
    return roots[0].code if roots else "RG-VB"


def show_unit(ctx: Ctx, unit: Row) -> None:
    lines, buttons = _about(ctx, unit)
    registration = _newest_plan(ctx, unit)
    if registration is not None or unit.kind == UnitKind.base_unit:
        lines.append(_plan_line(ctx, registration))
        buttons.append([Button(ctx.t(N_("📄 Plan")), f"un:plan:{unit.id}")])
    buttons += _sections(ctx, unit)
    ctx.say_text("\n".join(lines), buttons=buttons)


def _about(ctx: Ctx, unit: Row) -> tuple[list[str], list[list[Button]]]:
    """Name, kind, code, parent, mergers and who holds the unit's roles; buttons to the units
    of its merger history that this person may see."""
    uow = ctx.uow
    lines = [f"🏢 {unit.name}", ctx.t(N_("{kind}, code {code}"), kind=_kind(ctx, unit), code=unit.code)]
    parent = uow.units.get(unit.parent_id) if unit.parent_id else None
    if parent is not None:
        lines.append(ctx.t(N_("Part of: {unit} ({code})"), unit=parent.name, code=parent.code))
    related: list[Row] = []
    survivor = uow.units.get(unit.merged_into) if unit.merged_into else None
    if survivor is not None:
        lines.append(
            ctx.t(N_("Merged into {unit} ({code}) on {date}."), unit=survivor.name, code=survivor.code, date=_on(unit))
        )
        related.append(survivor)
    elif unit.closed_on is not None:
        lines.append(ctx.t(N_("Closed on {date}."), date=format_date(unit.closed_on)))
    for role in (Role.secretary, Role.deputy, Role.district_staff):
        names = [uow.accounts.one(h.account_id).full_name or "?" for h in uow.roles.holders(unit.id, role)]
        if names:
            lines.append(f"{ctx.t(ROLE_LABELS[role])}: {', '.join(names)}")
        elif role == Role.secretary and not unit.reviews and unit.merged_into is None:
            lines.append(f"{ctx.t(ROLE_LABELS[role])}: {ctx.t(NOBODY)}")
    merged = uow.units.merged_in(unit.id)
    if merged:
        history = "; ".join(f"{m.name} ({m.code}, {_on(m)})" for m in merged)
        lines.append(ctx.t(N_("Units merged into it: {units}."), units=history))
        related += merged[:5]
    buttons = [[Button(_label(ctx, u), f"un:open:{u.id}")] for u in related if can_see(ctx, u)]
    return lines, buttons


def _sections(ctx: Ctx, unit: Row) -> list[list[Button]]:
    """The buttons of the unit's reports and commitments (with how many), and of its units."""
    uow = ctx.uow
    buttons: list[list[Button]] = []
    if unit.kind in REPORTING:
        year = ctx.today.year
        meetings = uow.reports.count_in_subtree(unit.path, ReportKind.meeting, year)
        row = [Button(ctx.t(N_("📝 Meeting reports ({n})"), n=meetings), f"un:rep:{unit.id}:m:1")]
        if unit.kind == UnitKind.base_unit:
            dialogues = uow.reports.count_in_subtree(unit.path, ReportKind.dialogue, year)
            row.append(Button(ctx.t(N_("🤝 Dialogues ({n})"), n=dialogues), f"un:rep:{unit.id}:d:1"))
        buttons.append(row)
        if unit.kind == UnitKind.base_unit:
            commitments = uow.reports.count_commitments_in_subtree(unit.path)
            buttons.append([Button(ctx.t(N_("📌 Commitments ({n})"), n=commitments), f"un:cm:{unit.id}:1")])
    children = uow.units.children_count(unit.id)
    if children:
        buttons.append([Button(ctx.t(N_("🌳 Units below ({n})"), n=children), f"un:ls:{unit.id}:1")])
    return buttons


def _on(unit: Row) -> str:
    return format_date(unit.closed_on) if unit.closed_on else "?"


def _newest_plan(ctx: Ctx, unit: Row) -> Row | None:
    return next((r for r in ctx.uow.registrations.of_unit(unit.id) if r.version > 0), None)


def _plan_line(ctx: Ctx, registration: Row | None) -> str:
    if registration is None:
        return ctx.t(N_("Plan: none submitted yet."))
    state = ctx.t(REGISTRATION_STATES.get(RegistrationStatus(registration.status), N_("submitted")))
    if registration.result in RESULTS:
        state += ", " + ctx.t(RESULTS[ReviewResult(registration.result)])
    return ctx.t(
        N_("Plan for {year}: version {version}, first sent {timing}; {state}."),
        year=registration.year,
        version=registration.version,
        timing=ctx.t(N_("on time") if registration.on_time else N_("late")),
        state=state,
    )


# ---- the buttons ------------------------------------------------------------------------------


def unit_action(ctx: Ctx, arg: str) -> None:
    """Buttons "un:ls:<unit>:<page>", "un:open:<unit>", "un:plan:<unit>", "un:rep:<unit>:<m|d>:<page>",
    "un:cm:<unit>:<page>" and "un:r:<report>": every id read with parse_id and checked with can_see."""
    what, _, rest = arg.partition(":")
    parts = rest.split(":")
    if what == "r":
        return _open_report(ctx, parts[0])
    unit = ctx.uow.units.get(ident) if (ident := parse_id(parts[0])) else None
    if unit is None or not can_see(ctx, unit):
        ctx.say(INVALID)
        return
    page = ascii_int(parts[-1], 6) if len(parts) > 1 else 1
    if what == "open" and len(parts) == 1:
        return show_unit(ctx, unit)
    if what == "plan" and len(parts) == 1:
        return show_plan(ctx, unit)
    if what == "ls" and len(parts) == 2 and page:
        return list_units(ctx, unit, page)
    if what == "rep" and len(parts) == 3 and parts[1] in REPORT_KINDS and page:
        return list_reports(ctx, unit, REPORT_KINDS[parts[1]], page)
    if what == "cm" and len(parts) == 2 and page:
        return list_commitments(ctx, unit, page)
    ctx.say(INVALID)


def show_plan(ctx: Ctx, unit: Row) -> None:
    """The newest submitted plan: the document, its tasks in chat, its versions, its reviews."""
    uow = ctx.uow
    registration = _newest_plan(ctx, unit)
    if registration is None:
        ctx.say(N_("{unit} has not submitted a plan yet."), unit=unit.name)
        return
    programme = programmes(ctx.settings).get(registration.programme)
    name = programme.short_name if programme else registration.programme
    versions = uow.registrations.versions(registration.id)
    newest = versions[-1]
    params = {
        "programme": name,
        "year": registration.year,
        "unit": unit.name,
        "version": newest.version,
        "date": format_date(newest.submitted_at.astimezone(ctx.tz)),
    }
    head = N_("The {programme} plan of {unit} for {year}, version {version} (sent on {date}).")
    document = uow.documents.get(newest.document_id) if newest.document_id else None
    if document is not None:
        ctx.send_document(document.id, document.filename, head, **params)
    else:
        ctx.say(head, **params)
    lines = [_plan_line(ctx, registration), "", ctx.t(N_("Registered tasks:"))]
    areas = {area.number: area.short for area in programme.areas} if programme else {}
    numbers = sorted(
        {int(key[4:]) for key in newest.data if key.startswith("area") and key[4:].isascii() and key[4:].isdecimal()}
        | set(areas)
    )
    for number in numbers:
        lines.append(f"{number}. {areas.get(number, '')}".rstrip())
        for task in newest.data.get(f"area{number}") or []:
            line = (
                f"   • ({task.get('item', '?')}) {task.get('what', '')} — {task.get('when', '')}; {task.get('who', '')}"
            )
            if task.get("result"):
                line += f"; {ctx.t(EXPECTED)}: {task['result']}"
            lines.append(line)
    lines += ["", ctx.t(N_("Versions:"))]
    for version in versions:
        submitter = uow.accounts.get(version.submitted_by)
        lines.append(
            ctx.t(
                N_("• version {version}: {date}, by {name}, {timing}"),
                version=version.version,
                date=format_date(version.submitted_at.astimezone(ctx.tz)),
                name=(submitter.full_name if submitter else None) or "?",
                timing=ctx.t(N_("on time") if version.on_time else N_("late")),
            )
        )
    reviews = uow.reviews.actions_of(registration_id=registration.id)
    if reviews:
        lines += ["", ctx.t(N_("Reviews:"))]
        for review in reviews:
            reviewer = uow.accounts.get(review.account_id)
            label = REVIEW_ACTIONS.get(review.action)
            line = ctx.t(
                N_("• {date}, {name}: {action}"),
                date=review.at.astimezone(ctx.tz).strftime("%H:%M %d/%m/%Y"),
                name=(reviewer.full_name if reviewer else None) or "?",
                action=ctx.t(label) if label else review.action,
            )
            if review.note:
                line += f" — {review.note}"
            lines.append(line)
    ctx.say_text("\n".join(lines), buttons=[[Button(_label(ctx, unit), f"un:open:{unit.id}")]])


def list_reports(ctx: Ctx, unit: Row, kind: ReportKind, page: int) -> None:
    """The year's meeting or dialogue reports of the unit and of its branches, newest first."""
    year = ctx.today.year
    total = ctx.uow.reports.count_in_subtree(unit.path, kind, year)
    if not total:
        ctx.say(
            N_("No meeting reports from {unit} in {year}.")
            if kind == ReportKind.meeting
            else N_("No dialogue reports from {unit} in {year}."),
            unit=unit.name,
            year=year,
            buttons=[[Button(_label(ctx, unit), f"un:open:{unit.id}")]],
        )
        return
    page, pages, offset = _paged(total, page, REPORTS_PAGE)
    rows = ctx.uow.reports.in_subtree(unit.path, kind, year, offset=offset, limit=REPORTS_PAGE)
    buttons = []
    for report in rows:
        label = f"{format_date(report.held_on)} · v{report.version}"
        if report.unit_id != unit.id:  # a branch's
            label += f" · {clip_label(report.unit_name, LABEL_MAX)}"
        if report.status in STATUS_LABELS:
            label += f" · {ctx.t(STATUS_LABELS[ReportStatus(report.status)])}"
        buttons.append([Button(label, f"un:r:{report.id}")])
    code = next(k for k, v in REPORT_KINDS.items() if v == kind)
    buttons += _nav(ctx, f"un:rep:{unit.id}:{code}", page, pages)
    ctx.say(
        N_(
            "Meeting reports of {unit} and its branches in {year}: {total}, page {page} of {pages}. Press one to see it."
        )
        if kind == ReportKind.meeting
        else N_("Dialogue reports of {unit} in {year}: {total}, page {page} of {pages}. Press one to see it."),
        unit=unit.name,
        year=year,
        total=total,
        page=page,
        pages=pages,
        buttons=buttons,
    )


def _open_report(ctx: Ctx, ident: str) -> None:
    report = ctx.uow.reports.get(report_id) if (report_id := parse_id(ident)) else None
    unit = ctx.uow.units.get(report.unit_id) if report else None
    if report is None or unit is None or not can_see(ctx, unit):
        ctx.say(INVALID)
        return
    data = ctx.uow.reports.latest_data(report.id)
    show_report(ctx, report, data, unit=unit, buttons=[[Button(_label(ctx, unit), f"un:open:{unit.id}")]], files=True)


def list_commitments(ctx: Ctx, unit: Row, page: int) -> None:
    """What leaders promised in the unit's dialogues, and what its secretary answered since."""
    total = ctx.uow.reports.count_commitments_in_subtree(unit.path)
    if not total:
        ctx.say(N_("No commitments recorded for {unit}."), unit=unit.name)
        return
    page, pages, offset = _paged(total, page, REPORTS_PAGE)
    lines = [
        ctx.t(
            N_("Commitments of {unit}: {total}, page {page} of {pages}."),
            unit=unit.name,
            total=total,
            page=page,
            pages=pages,
        )
    ]
    for c in ctx.uow.reports.commitments_in_subtree(unit.path, offset=offset, limit=REPORTS_PAGE):
        answer = FOLLOW_UP_LABELS.get(CommitmentStatus(c.status)) if c.status != CommitmentStatus.open else None
        lines += [
            "",
            f"• {c.promise}",
            "   "
            + ctx.t(
                N_("{by}; due {due}; dialogue of {date}"),
                by=c.promised_by,
                due=format_date(c.due_on) if c.due_on else ctx.t(N_("none given")),
                date=format_date(c.held_on),
            ),
            "   " + ctx.t(N_("Follow-up: {answer}"), answer=ctx.t(answer) if answer else ctx.t(N_("not answered yet"))),
        ]
        if c.note:
            lines.append("   " + ctx.t(N_("Note: {note}"), note=c.note))
        if c.report_status == ReportStatus.withdrawn:
            lines.append("   " + ctx.t(N_("(the dialogue report was withdrawn)")))
    buttons = _nav(ctx, f"un:cm:{unit.id}", page, pages) + [[Button(_label(ctx, unit), f"un:open:{unit.id}")]]
    ctx.say_text("\n".join(lines), buttons=buttons)


# ---- small things ----------------------------------------------------------------------------


def _kind(ctx: Ctx, unit: Row) -> str:
    label = KIND_LABELS.get(UnitKind(unit.kind)) if unit.kind in set(UnitKind) else None
    return ctx.t(label) if label else unit.kind


def _label(ctx: Ctx, unit: Row) -> str:
    return f"📂 {clip_label(unit.name, LABEL_MAX)} ({unit.code})"


def _paged(total: int, page: int, size: int) -> tuple[int, int, int]:
    """(the page, clamped to those there are; the number of pages; the offset of its first row)."""
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    return page, pages, (page - 1) * size


def _nav(ctx: Ctx, prefix: str, page: int, pages: int) -> list[list[Button]]:
    row = []
    if page > 1:
        row.append(Button(ctx.t(N_("« Previous")), f"{prefix}:{page - 1}"))
    if page < pages:
        row.append(Button(ctx.t(N_("Next »")), f"{prefix}:{page + 1}"))
    return [row] if row else []
