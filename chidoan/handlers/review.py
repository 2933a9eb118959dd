"""Reviewing the units' plans and reports (/duyet, /review): for the staff of a reviewing union
(and admins), over their subtree (scope.in_scope).

- `/duyet`: the submitted plans waiting for review, oldest first; `/duyet baocao` the submitted
  meeting and dialogue reports; `/duyet danhgia` the accepted plans not rated yet; `/duyet <unit
  code or name>` that unit's plans.
- A plan opened: its document, its tasks numbered 1..n with their items, sections I and III, and
  "✅ Accept" (read-only for the unit from then on), "↩️ Return for correction" (the reviewer
  picks the tasks and sections to reopen and writes one comment; only those parts reopen for
  the secretary, see handlers/registration.py) and "⭐ Year-end rating" (each task passed / not
  passed with an optional note, then the programme's `recognition` rule proposes the unit's
  result, which the reviewer confirms or overrides with a note).

Every action is a `review_action` (storage/reviews.py). Buttons carry the state they were shown
in (version, status, the task's rating, the result) and storage compares it in its UPDATE, so a
second press or a press after another reviewer acted changes nothing and is answered as such.
Payloads "dv:<what>:<registration or report id>:...", each id read with parse_id and the unit
checked against the person's scope, so a forged id of another subtree is refused, answered as an
id that does not exist (no unit's name: walking the ids must not list the province's units).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import ascii_int, parse_id
from chidoan.engine.journey import Answers, Journey, Step
from chidoan.engine.messages import BUTTON_GONE, Button
from chidoan.handlers.access import refuse
from chidoan.handlers.scope import find_units, in_scope, staff_scope
from chidoan.i18n import N_, fold, format_date, gettext
from chidoan.programmes.loader import Programme, programmes
from chidoan.storage.models import RegistrationStatus, ReportKind, ReportStatus, ReviewResult, Role
from chidoan.storage.reviews import ACCEPTABLE, RATEABLE, ReviewConflict

PAGE = 8
CHANGED_WRITING = N_(
    "The plan changed while you were writing (another reviewer acted, or a new version came). Nothing was stored."
)
CHANGED_RATING = N_("The plan changed while you were rating it. Nothing was stored.")
NOT_STAFF = N_("Only the staff of a reviewing union can review plans and reports.")
OUT_OF_SCOPE = N_("{unit} is not among the units you review, so you cannot act on it.")
STATUS_LABELS = {
    RegistrationStatus.draft: N_("draft"),
    RegistrationStatus.submitted: N_("waiting for review"),
    RegistrationStatus.returned: N_("returned for correction"),
    RegistrationStatus.reviewed: N_("accepted"),
}
RESULT_LABELS = {ReviewResult.passed: N_("Passed"), ReviewResult.not_passed: N_("Not passed")}
CODE = {ReviewResult.passed: "p", ReviewResult.not_passed: "n"}
RESULT_OF = {"p": ReviewResult.passed, "n": ReviewResult.not_passed}
STATUS_CODE = {  # in the accept button: the status it was offered in
    RegistrationStatus.draft: "d",
    RegistrationStatus.submitted: "s",
    RegistrationStatus.returned: "r",
    RegistrationStatus.reviewed: "v",
}
KIND_LABELS = {ReportKind.meeting: N_("Meeting"), ReportKind.dialogue: N_("Dialogue")}
SECTIONS = {"I": "purpose", "III": "implementation"}  # the plan's sections and their answers
WORDS = {"baocao": "reports", "reports": "reports", "danhgia": "rating", "rating": "rating", "rate": "rating"}


# ---- the plan as the reviewer sees it ------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    number: int  # 1.. across the areas, in order
    area: int
    index: int  # in its area's list
    data: dict

    @property
    def item(self) -> str:
        return str(self.data.get("item", ""))


def tasks_of(programme: Programme, data: dict) -> list[Task]:
    """The plan's tasks numbered 1..n, all areas in order (item_rating.task is this number)."""
    found: list[Task] = []
    for area in programme.areas:
        for index, task in enumerate(data.get(f"area{area.number}") or []):
            found.append(Task(len(found) + 1, area.number, index, task))
    return found


def _plan(ctx: Ctx, registration: Row) -> tuple[Programme, dict]:
    """The registration's programme and the answers of its current version."""
    programme = programmes(ctx.settings)[registration.programme]
    return programme, ctx.uow.registrations.version(registration.id, registration.version).data


def task_ratings(ctx: Ctx, registration: Row, tasks: list[Task]) -> dict[int, Row]:
    """The ratings of these tasks (the registration's current version), by task number: a rating
    at a position the plan no longer has counts for nothing (a new version deletes the ratings
    of the old, storage/registrations.py add_version)."""
    numbers = {task.number for task in tasks}
    rows = ctx.uow.reviews.ratings_of([registration.id]).get(registration.id, [])
    return {row.task: row for row in rows if row.task in numbers}


def part_targets(programme: Programme, data: dict, parts: list[str]) -> list[str]:
    """The journey's steps or items ("area1.0", "purpose") of returned parts ("task:2", "section:I")."""
    tasks = {task.number: task for task in tasks_of(programme, data)}
    targets = []
    for part in parts:
        kind, _, value = part.partition(":")
        if kind == "section" and value in SECTIONS:
            targets.append(SECTIONS[value])
        elif kind == "task" and (number := ascii_int(value, 4)) in tasks:
            task = tasks[number]
            targets.append(f"area{task.area}.{task.index}")
    return targets


def part_labels(locale: str, programme: Programme, data: dict, parts: list[str]) -> str:
    tasks = {task.number: task for task in tasks_of(programme, data)}
    labels = []
    for part in parts:
        kind, _, value = part.partition(":")
        if kind == "section":
            labels.append(gettext(locale, N_("Section {section}"), section=value))
        elif (number := ascii_int(value, 4)) in tasks:
            labels.append(gettext(locale, N_("Task {n} ({item})"), n=number, item=tasks[number].item))
    return ", ".join(labels)


def _task_text(ctx: Ctx, programme: Programme, task: Task) -> str:
    item = programme.item(task.item)
    head = f"{task.number}. [{task.item} {item.short if item else ''}] {task.data.get('what', '')}"
    details = ctx.t(N_("when: {when}; in charge: {who}"), when=task.data.get("when", ""), who=task.data.get("who", ""))
    if task.data.get("result"):
        details += "; " + ctx.t(N_("expected result: {result}"), result=task.data["result"])
    return head + "\n   " + details


def _reviewing_name(ctx: Ctx, unit: Row) -> str:
    """The name of the union the reviewer acts for over `unit` (their nearest staff unit above it)."""
    roles = [r for r in staff_scope(ctx) if unit.path.startswith(r.path)]
    best = max(roles, key=lambda r: len(r.path)) if roles else None
    return ctx.uow.units.one(best.unit_id).name if best else ""


def _secretaries(ctx: Ctx, unit_id: int) -> list[int]:
    holders = ctx.uow.roles.holders(unit_id, Role.secretary) + ctx.uow.roles.holders(unit_id, Role.deputy)
    return list(dict.fromkeys(h.account_id for h in holders))


# ---- /duyet ---------------------------------------------------------------------------------------


def review_command(ctx: Ctx, args: str) -> None:
    if not staff_scope(ctx):
        ctx.say(NOT_STAFF)
        return
    text = args.strip()
    word = WORDS.get(fold(text).replace(" ", ""))
    if not text:
        return _queue(ctx, "k", 0)
    if word == "reports":
        return _queue(ctx, "b", 0)
    if word == "rating":
        return _queue(ctx, "d", 0)
    units = find_units(ctx, text, limit=10)
    if not units:
        ctx.say(N_("No unit “{text}” among the units you review. Type a code or part of the name."), text=text[:40])
        return
    if len(units) > 1:
        buttons = [[Button(f"{u.code} · {u.name}", f"dv:u:{u.id}")] for u in units]
        ctx.say(N_("Which unit?"), buttons=buttons)
        return
    _unit_plans(ctx, units[0])


def _unit_plans(ctx: Ctx, unit: Row) -> None:
    plans = [r for r in ctx.uow.registrations.of_unit(unit.id) if r.version > 0 and r.year >= ctx.today.year - 1]
    if not plans:
        ctx.say(N_("{unit} has no submitted plan for {year} or later."), unit=unit.name, year=ctx.today.year - 1)
        return
    if len(plans) == 1:
        return _show_plan(ctx, plans[0], unit)
    buttons = [
        [Button(f"{r.year} · v{r.version} · {ctx.t(STATUS_LABELS[RegistrationStatus(r.status)])}", f"dv:o:{r.id}")]
        for r in plans
    ]
    ctx.say(N_("Plans of {unit}: which one?"), unit=unit.name, buttons=buttons)


def _queue(ctx: Ctx, kind: str, page: int) -> None:
    roots = staff_scope(ctx)
    since = ctx.today.year - 1
    if kind == "b":
        total, rows = ctx.uow.reviews.waiting_reports(roots, since=date(since, 1, 1), offset=page * PAGE, limit=PAGE)
        heading = N_("Reports waiting for review: {total} (oldest first, page {page} of {pages}).")
        empty = N_("No meeting or dialogue report is waiting for review.")
        buttons = [
            [
                Button(
                    f"{format_date(r.held_on)} · {ctx.t(KIND_LABELS[ReportKind(r.kind)])} · {r.unit_name}",
                    f"dv:ro:{r.id}",
                )
            ]
            for r in rows
        ]
    else:
        status = RegistrationStatus.submitted if kind == "k" else RegistrationStatus.reviewed
        total, rows = ctx.uow.reviews.waiting(
            roots, status=status, from_year=since, rated=False if kind == "d" else None, offset=page * PAGE, limit=PAGE
        )
        if kind == "k":
            heading = N_("Plans waiting for review: {total} (oldest first, page {page} of {pages}).")
            empty = N_(
                "No plan is waiting for review. /duyet baocao lists the reports, /duyet danhgia the accepted plans to rate at year-end, /duyet followed by a unit's code or name opens its plan."
            )
        else:
            heading = N_("Accepted plans not rated yet: {total} (oldest first, page {page} of {pages}).")
            empty = N_("Every accepted plan has been rated.")
        buttons = [[Button(f"{r.unit_code} · {r.unit_name} · {r.year} · v{r.version}", f"dv:o:{r.id}")] for r in rows]
    if total == 0:
        ctx.say(empty)
        return
    pages = (total + PAGE - 1) // PAGE
    if page >= pages:  # an old button of a page that no longer exists: the last one
        return _queue(ctx, kind, pages - 1)
    nav = []
    if page > 0:
        nav.append(Button(ctx.t(N_("« Previous page")), f"dv:p:{kind}:{page - 1}"))
    if page + 1 < pages:
        nav.append(Button(ctx.t(N_("Next page »")), f"dv:p:{kind}:{page + 1}"))
    ctx.say(heading, total=total, page=page + 1, pages=pages, buttons=buttons + ([nav] if nav else []))


# ---- the buttons ---------------------------------------------------------------------------------


def review_action(ctx: Ctx, arg: str) -> None:
    """Buttons "dv:<what>:<args>" (see the module's docstring)."""
    what, _, rest = arg.partition(":")
    args = rest.split(":")
    if not staff_scope(ctx):
        ctx.say(NOT_STAFF)
        return
    if what == "p" and len(args) == 2 and args[0] in ("k", "b", "d") and (page := ascii_int(args[1], 4)) is not None:
        return _queue(ctx, args[0], page)
    if what == "u":
        unit = ctx.uow.units.get(ident) if (ident := parse_id(args[0])) else None
        if unit is None or not in_scope(ctx, unit):  # outside the subtree: as if it did not exist
            ctx.say(BUTTON_GONE)
        else:
            _unit_plans(ctx, unit)
        return
    if what in ("ro", "ra"):
        return _report_action(ctx, what, args)
    if what != "o" and what not in _PLAN_ACTIONS:
        ctx.say(BUTTON_GONE)
        return
    found = _registration(ctx, args[0])
    if found is None:
        return
    registration, unit = found
    if what == "o":
        return _show_plan(ctx, registration, unit)
    version = ascii_int(args[1], 6) if len(args) > 1 else None
    if version != registration.version:
        return _stale(ctx, registration, unit)
    _PLAN_ACTIONS[what](ctx, registration, unit, args[2:])


def _registration(ctx: Ctx, ident: str) -> tuple[Row, Row] | None:
    registration = ctx.uow.registrations.get(number) if (number := parse_id(ident)) else None
    if registration is None or registration.version == 0:
        ctx.say(BUTTON_GONE)
        return None
    unit = ctx.uow.units.one(registration.unit_id)
    if not in_scope(ctx, unit):  # a forged id: answered as one that does not exist, no name
        ctx.say(BUTTON_GONE)
        return None
    return registration, unit


def _stale(ctx: Ctx, registration: Row, unit: Row) -> None:
    """A button from before a change (another reviewer acted, a new version came): say so and
    show the plan as it is now."""
    actions = ctx.uow.reviews.actions_of(registration_id=registration.id)
    last = actions[-1] if actions else None
    if last is not None and last.account_id != ctx.account_id:
        who = ctx.uow.accounts.one(last.account_id).full_name or "?"
        ctx.say(
            N_("This plan changed since that button was sent: {name} acted on it at {time}. Here it is now:"),
            name=who,
            time=last.at.astimezone(ctx.tz).strftime("%H:%M %d/%m/%Y"),
        )
    else:
        ctx.say(N_("This plan changed since that button was sent. Here it is now:"))
    _show_plan(ctx, registration, unit)


def _show_plan(ctx: Ctx, registration: Row, unit: Row) -> None:
    programme = programmes(ctx.settings)[registration.programme]
    version = ctx.uow.registrations.version(registration.id, registration.version)
    data = version.data
    status = RegistrationStatus(registration.status)
    timing = N_("on time") if registration.on_time else N_("late")
    lines = [
        ctx.t(
            N_("{programme} plan of {unit} ({code}) for {year}"),
            programme=programme.short_name,
            unit=unit.name,
            code=unit.code,
            year=registration.year,
        ),
        ctx.t(
            N_("Version {version}, sent on {date}; first submitted on {first} ({timing}). Status: {status}."),
            version=registration.version,
            date=version.submitted_at.astimezone(ctx.tz).strftime("%H:%M %d/%m/%Y"),
            first=format_date(registration.first_submitted_at.astimezone(ctx.tz)),
            timing=ctx.t(timing),
            status=ctx.t(STATUS_LABELS[status]),
        ),
    ]
    if registration.result:
        lines.append(
            ctx.t(N_("Year-end result: {result}."), result=ctx.t(RESULT_LABELS[ReviewResult(registration.result)]))
        )
    lines += ["", ctx.t(N_("I. Purpose and requirements")) + ": " + str(data.get("purpose", "")), ""]
    lines.append(ctx.t(N_("II. Tasks:")))
    tasks = tasks_of(programme, data)
    ratings = task_ratings(ctx, registration, tasks)
    for task in tasks:
        text = _task_text(ctx, programme, task)
        if task.number in ratings:
            text += " — " + ctx.t(RESULT_LABELS[ReviewResult(ratings[task.number].result)])
        lines.append(text)
    lines += ["", ctx.t(N_("III. Implementation")) + ": " + str(data.get("implementation", ""))]
    if status == RegistrationStatus.returned:
        back = ctx.uow.reviews.last_return(registration.id)
        if back is not None:
            lines += [
                "",
                ctx.t(
                    N_("Returned for correction of: {parts}. Comment: {comment}"),
                    parts=part_labels(ctx.locale, programme, data, back.detail.get("parts", [])),
                    comment=back.detail.get("comment", ""),
                ),
            ]
    if version.document_id is not None:
        document = ctx.uow.documents.one(version.document_id)
        ctx.send_document(
            document.id,
            document.filename,
            N_("The plan of {unit} for {year}, version {version}."),
            unit=unit.name,
            year=registration.year,
            version=registration.version,
        )
    key = f"{registration.id}:{registration.version}"
    buttons = []
    if status in ACCEPTABLE:
        buttons.append([Button(ctx.t(N_("✅ Accept")), f"dv:a:{key}:{STATUS_CODE[status]}")])
    if status == RegistrationStatus.submitted:
        buttons.append([Button(ctx.t(N_("↩️ Return for correction")), f"dv:r:{key}:0")])
    if status in RATEABLE:
        buttons.append([Button(ctx.t(N_("⭐ Year-end rating")), f"dv:e:{key}")])
    ctx.say_text("\n".join(lines), buttons=buttons)


# ---- accept -------------------------------------------------------------------------------------


def _accept(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    if not args or args[0] != STATUS_CODE[RegistrationStatus(registration.status)]:
        return _stale(ctx, registration, unit)
    try:
        ctx.uow.reviews.accept(registration, account_id=ctx.account_id, now=ctx.now)
    except ReviewConflict:
        return _stale(ctx, ctx.uow.registrations.one(registration.id), unit)
    programme = programmes(ctx.settings)[registration.programme]
    ctx.say(
        N_("Accepted: the plan of {unit} for {year} (version {version}). It can no longer be changed by the unit."),
        unit=unit.name,
        year=registration.year,
        version=registration.version,
    )
    for account_id in _secretaries(ctx, unit.id):
        ctx.notify(
            account_id,
            N_(
                "{reviewer} accepted your {programme} plan for {year} (version {version}). It can no longer be changed."
            ),
            reviewer=_reviewing_name(ctx, unit),
            programme=programme.short_name,
            year=registration.year,
            version=registration.version,
        )


# ---- return for correction ----------------------------------------------------------------------


def _return_pick(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    """The choice of parts to reopen, kept in the buttons themselves: bit 0 section I, bit 1
    section III, bit k+1 task k. Each button carries the choice it makes."""
    if registration.status != RegistrationStatus.submitted:
        return _stale(ctx, registration, unit)
    mask = _mask(args[0] if args else "")
    if mask is None:
        ctx.say(BUTTON_GONE)
        return
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    key = f"dv:r:{registration.id}:{registration.version}"

    def toggle(bit: int, label: str) -> Button:
        chosen = mask & (1 << bit)
        return Button(("☑️ " if chosen else "⬜ ") + label, f"{key}:{mask ^ (1 << bit):x}")

    rows = [[toggle(task.number + 1, ctx.t(N_("Task {n} ({item})"), n=task.number, item=task.item))] for task in tasks]
    rows.append([toggle(0, ctx.t(N_("Section I"))), toggle(1, ctx.t(N_("Section III")))])
    action = [Button(ctx.t(N_("« Back to the plan")), f"dv:o:{registration.id}")]
    if mask:
        action.insert(
            0, Button(ctx.t(N_("Next: the comment »")), f"dv:c:{registration.id}:{registration.version}:{mask:x}")
        )
    ctx.say(
        N_(
            "Return the plan of {unit} for correction: choose the parts to reopen (press again to unselect), then “Next”. Only those parts can be changed by the unit; the rest stays as it is."
        ),
        unit=unit.name,
        buttons=rows + [action],
    )


def _mask(text: str) -> int | None:
    if not (text.isascii() and 0 < len(text) <= 24) or any(ch not in "0123456789abcdef" for ch in text):
        return None
    return int(text, 16)


def _parts_of(mask: int, tasks: list[Task]) -> list[str]:
    parts = [f"task:{task.number}" for task in tasks if mask & (1 << (task.number + 1))]
    return parts + [f"section:{name}" for bit, name in ((0, "I"), (1, "III")) if mask & (1 << bit)]


def _return_comment(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    if registration.status != RegistrationStatus.submitted:
        return _stale(ctx, registration, unit)
    mask = _mask(args[0] if args else "")
    programme, data = _plan(ctx, registration)
    parts = _parts_of(mask or 0, tasks_of(programme, data))
    if not parts:
        ctx.say(BUTTON_GONE)
        return
    ctx.engine.runner.start(
        ctx,
        RETURN.name,
        context={
            "registration": registration.id,
            "version": registration.version,
            "parts": parts,
            "labels": part_labels(ctx.locale, programme, data, parts),
        },
    )


def _save_return(ctx: Ctx, answers: Answers) -> None:
    found = _journey_plan(ctx, answers, (RegistrationStatus.submitted,), CHANGED_WRITING)
    if found is None:
        return
    context, registration, unit = found
    try:
        ctx.uow.reviews.give_back(
            registration, parts=context["parts"], comment=answers["comment"], account_id=ctx.account_id, now=ctx.now
        )
    except ReviewConflict:
        refuse(ctx, CHANGED_WRITING)
        return
    programme, data = _plan(ctx, registration)
    ctx.say(
        N_("Returned to {unit} for correction of: {parts}. The unit has been told."),
        unit=unit.name,
        parts=context["labels"],
    )
    for account_id in _secretaries(ctx, unit.id):
        locale = ctx.uow.accounts.one(account_id).locale
        ctx.notify(
            account_id,
            N_(
                "{reviewer} returned your {programme} plan for {year} (version {version}) for correction.\nParts to correct: {parts}\nComment: {comment}\nOnly these parts are reopened; the rest stays as it is."
            ),
            buttons=[[(N_("✏️ Correct the plan"), f"reg:edit:{registration.id}")]],
            reviewer=_reviewing_name(ctx, unit),
            programme=programme.short_name,
            year=registration.year,
            version=registration.version,
            parts=part_labels(locale, programme, data, context["parts"]),
            comment=answers["comment"],
        )


def _journey_plan(ctx: Ctx, answers: Answers, allowed: Container[str], changed: str) -> tuple[dict, Row, Row] | None:
    """At a review journey's end: (its context, the registration and its unit as they are now),
    if this person still reviews the unit and the plan is still the version the journey began on,
    in a state among `allowed` (and, when the context holds the "previous" year-end result, still
    with that result); otherwise they are told (`changed`, and shown the plan as it is now) and
    None."""
    context = answers["_ctx"]
    found = _still_reviewing(ctx, context["registration"])
    if found is None:
        return None
    registration, unit = found
    if (
        registration.version != context["version"]
        or ("previous" in context and _result_code(registration) != context["previous"])
        or registration.status not in allowed
    ):
        refuse(ctx, changed)
        _show_plan(ctx, registration, unit)
        return None
    return context, registration, unit


def _result_code(registration: Row) -> str:
    """The plan's year-end result as a button carries it ("p", "n"; "-" not rated yet)."""
    return CODE[ReviewResult(registration.result)] if registration.result else "-"


def _still_reviewing(ctx: Ctx, registration_id: int) -> tuple[Row, Row] | None:
    """At a journey's end: the registration as it is now, if this person still reviews its unit
    (roles read again); otherwise the conversation is closed and they are told."""
    ctx.forget_roles()
    registration = ctx.uow.registrations.one(registration_id)
    unit = ctx.uow.units.one(registration.unit_id)
    if not in_scope(ctx, unit):
        refuse(ctx, OUT_OF_SCOPE, unit=unit.name)
        return None
    return registration, unit


def _open_context(ctx: Ctx) -> dict:
    state = ctx.uow.conversations.active(ctx.account_id)
    return state.data.get("ctx", {}) if state else {}


RETURN = Journey(
    name="review_return",
    title=N_("Return for correction"),
    steps=(
        Step(
            "comment",
            N_("Parts to reopen: {parts}.\nWrite your comment for the unit: what should be corrected, and how?"),
            label=N_("Comment"),
            min_len=5,
            max_len=3000,
            params=lambda ctx, _a: {"parts": _open_context(ctx).get("labels", "")},
        ),
    ),
    complete=_save_return,
    submit_label=N_("↩️ Return the plan"),
)


# ---- year-end rating ---------------------------------------------------------------------------


def _rating_start(ctx: Ctx, registration: Row, unit: Row, _args: list[str]) -> None:
    if registration.status not in RATEABLE:
        ctx.say(N_("A plan returned for correction is rated once the unit has sent it again."))
        return
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    rated = task_ratings(ctx, registration, tasks)
    first = next((t.number for t in tasks if t.number not in rated), None)
    if first is None:
        return _proposal(ctx, registration, unit)
    _ask_task(ctx, registration, unit, first)


def _task_action(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    number = ascii_int(args[0], 4) if args else None
    if number is None:
        ctx.say(BUTTON_GONE)
        return
    _ask_task(ctx, registration, unit, number)


def _ask_task(ctx: Ctx, registration: Row, unit: Row, number: int) -> None:
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    if not 1 <= number <= len(tasks):
        return _proposal(ctx, registration, unit)
    task = tasks[number - 1]
    rating = task_ratings(ctx, registration, tasks).get(number)
    seen = CODE[ReviewResult(rating.result)] if rating else "-"
    key = f"dv:g:{registration.id}:{registration.version}:{number}:{seen}"
    text = (
        ctx.t(N_("Year-end rating of {unit}, task {n} of {total}:"), unit=unit.name, n=number, total=len(tasks))
        + "\n"
        + _task_text(ctx, programme, task)
    )
    if rating is not None:
        text += "\n" + ctx.t(N_("Rated so far: {result}."), result=ctx.t(RESULT_LABELS[ReviewResult(rating.result)]))
    buttons = [[Button(ctx.t(N_("✅ Passed")), f"{key}:p"), Button(ctx.t(N_("❌ Not passed")), f"{key}:n")]]
    if rating is not None:
        buttons.append([Button(ctx.t(N_("Keep it »")), f"dv:t:{registration.id}:{registration.version}:{number + 1}")])
    ctx.say_text(text, buttons=buttons)


def _grade(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    """ "dv:g:<id>:<version>:<task>:<seen>:<p|n>": the note is asked next, then it is stored."""
    number = ascii_int(args[0], 4) if len(args) == 3 else None
    if number is None or args[1] not in ("-", "p", "n") or args[2] not in RESULT_OF:
        ctx.say(BUTTON_GONE)
        return
    if registration.status not in RATEABLE:
        return _stale(ctx, registration, unit)
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    rating = task_ratings(ctx, registration, tasks).get(number)
    if (CODE[ReviewResult(rating.result)] if rating else "-") != args[1]:
        return _rated_meanwhile(ctx, registration, unit, number)
    ctx.engine.runner.start(
        ctx,
        NOTE.name,
        context={
            "registration": registration.id,
            "version": registration.version,
            "task": number,
            "seen": args[1],
            "result": args[2],
        },
    )


def _rated_meanwhile(ctx: Ctx, registration: Row, unit: Row, number: int) -> None:
    ctx.say(N_("Task {n} was rated since that button was sent; it is shown again below."), n=number)
    _ask_task(ctx, registration, unit, number)


def _save_rating(ctx: Ctx, answers: Answers) -> None:
    found = _journey_plan(ctx, answers, RATEABLE, CHANGED_RATING)
    if found is None:
        return
    context, registration, unit = found
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    number = context["task"]
    if not 1 <= number <= len(tasks):
        refuse(ctx, BUTTON_GONE)
        return
    seen = None if context["seen"] == "-" else RESULT_OF[context["seen"]]
    result = RESULT_OF[context["result"]]
    try:
        ctx.uow.reviews.rate(
            registration,
            task=number,
            item=tasks[number - 1].item,
            result=result,
            seen=seen,
            note=answers.get("note"),
            account_id=ctx.account_id,
            now=ctx.now,
        )
    except ReviewConflict:
        refuse(ctx, N_("Task {n} was rated since that button was sent; it is shown again below."), n=number)
        return _ask_task(ctx, registration, unit, number)
    ctx.say(N_("Task {n}: {result}."), n=number, result=ctx.t(RESULT_LABELS[result]))
    if number < len(tasks):
        return _ask_task(ctx, registration, unit, number + 1)
    _proposal(ctx, registration, unit)


NOTE = Journey(
    name="review_note",
    title=N_("Rating note"),
    steps=(Step("note", N_("A note on this task? (optional)"), label=N_("Note"), required=False, max_len=2000),),
    complete=_save_rating,
    confirm=False,
)


def _proposal(ctx: Ctx, registration: Row, unit: Row) -> None:
    """All tasks rated: the programme's rule proposes the unit's result; confirm or override."""
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    ratings = task_ratings(ctx, registration, tasks)
    missing = [t.number for t in tasks if t.number not in ratings]
    if missing:
        ctx.say(
            N_("{n} task(s) are not rated yet."),
            n=len(missing),
            buttons=[
                [Button(ctx.t(N_("⭐ Rate them")), f"dv:t:{registration.id}:{registration.version}:{missing[0]}")]
            ],
        )
        return
    passed = sum(1 for t in tasks if ratings[t.number].result == ReviewResult.passed)
    proposed = ReviewResult.passed if programme.recognition.proposes(passed, len(tasks)) else ReviewResult.not_passed
    other = ReviewResult.not_passed if proposed == ReviewResult.passed else ReviewResult.passed
    key = f"{registration.id}:{registration.version}:{_result_code(registration)}"
    lines = [
        ctx.t(
            N_("Year-end rating of {unit} for {year}: {passed} of {total} tasks passed."),
            unit=unit.name,
            year=registration.year,
            passed=passed,
            total=len(tasks),
        ),
        ctx.t(
            N_(
                "By the programme's rule (at least {share}% of the registered tasks passed), the proposed result is: {result}."
            ),
            share=round(programme.recognition.min_passed_share * 100),
            result=ctx.t(RESULT_LABELS[proposed]),
        ),
    ]
    if registration.result:
        lines.append(
            ctx.t(N_("Result stored so far: {result}."), result=ctx.t(RESULT_LABELS[ReviewResult(registration.result)]))
        )
    ctx.say_text(
        "\n".join(lines),
        buttons=[
            [
                Button(
                    ctx.t(N_("✅ Confirm: {result}"), result=ctx.t(RESULT_LABELS[proposed])),
                    f"dv:f:{key}:{CODE[proposed]}:{CODE[proposed]}",
                )
            ],
            [
                Button(
                    ctx.t(N_("Change to: {result}"), result=ctx.t(RESULT_LABELS[other])),
                    f"dv:x:{key}:{CODE[proposed]}:{CODE[other]}",
                )
            ],
            [Button(ctx.t(N_("⭐ Rate again from task 1")), f"dv:t:{registration.id}:{registration.version}:1")],
        ],
    )


def _result_args(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> tuple[str, str] | None:
    """(proposed, result) of "dv:f|x:<id>:<version>:<previous result>:<proposed>:<result>", or
    None when the button is forged or stale (answered)."""
    if len(args) != 3 or args[1] not in RESULT_OF or args[2] not in RESULT_OF:
        ctx.say(BUTTON_GONE)
        return None
    if args[0] != _result_code(registration) or registration.status not in RATEABLE:
        _stale(ctx, registration, unit)
        return None
    return RESULT_OF[args[1]], RESULT_OF[args[2]]


def _confirm(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    found = _result_args(ctx, registration, unit, args)
    if found is not None:
        _store_result(ctx, registration, unit, found[0], found[1], None)


def _override(ctx: Ctx, registration: Row, unit: Row, args: list[str]) -> None:
    found = _result_args(ctx, registration, unit, args)
    if found is None:
        return
    ctx.engine.runner.start(
        ctx,
        OVERRIDE.name,
        context={
            "registration": registration.id,
            "version": registration.version,
            "previous": args[0],
            "proposed": found[0],
            "result": found[1],
        },
    )


def _save_override(ctx: Ctx, answers: Answers) -> None:
    found = _journey_plan(ctx, answers, RATEABLE, CHANGED_RATING)
    if found is None:
        return
    context, registration, unit = found
    _store_result(ctx, registration, unit, context["proposed"], context["result"], answers["note"])


OVERRIDE = Journey(
    name="review_override",
    title=N_("Another result than the proposal"),
    steps=(
        Step(
            "note",
            N_("Why another result than the one the programme's rule proposes? The reason is kept with the result."),
            label=N_("Reason"),
            min_len=5,
            max_len=2000,
        ),
    ),
    complete=_save_override,
    submit_label=N_("✅ Store the result"),
)


def _store_result(ctx: Ctx, registration: Row, unit: Row, proposed: str, result: str, note: str | None) -> None:
    try:
        ctx.uow.reviews.set_result(
            registration, proposed=proposed, result=result, note=note, account_id=ctx.account_id, now=ctx.now
        )
    except ReviewConflict:
        refuse(ctx, CHANGED_RATING)
        return
    programme, data = _plan(ctx, registration)
    tasks = tasks_of(programme, data)
    ratings = task_ratings(ctx, registration, tasks)
    passed = sum(1 for r in ratings.values() if r.result == ReviewResult.passed)
    ctx.say(
        N_("Stored: {unit}, year-end result for {year}: {result}."),
        unit=unit.name,
        year=registration.year,
        result=ctx.t(RESULT_LABELS[ReviewResult(result)]),
    )
    notice = (
        N_(
            "{reviewer} rated your {programme} plan for {year}: {passed} of {total} tasks passed. Result: your unit is recognised as a {programme} base unit."
        )
        if result == ReviewResult.passed
        else N_(
            "{reviewer} rated your {programme} plan for {year}: {passed} of {total} tasks passed. Result: not recognised this year."
        )
    )
    for account_id in _secretaries(ctx, unit.id):
        ctx.notify(
            account_id,
            notice,
            reviewer=_reviewing_name(ctx, unit),
            programme=programme.short_name,
            year=registration.year,
            passed=passed,
            total=len(tasks),
        )


# ---- reports ------------------------------------------------------------------------------------


def _report_action(ctx: Ctx, what: str, args: list[str]) -> None:
    report = ctx.uow.reports.get(ident) if (ident := parse_id(args[0])) else None
    if report is None:
        ctx.say(BUTTON_GONE)
        return
    unit = ctx.uow.units.one(report.unit_id)
    if not in_scope(ctx, unit):  # a forged id: answered as one that does not exist, no name
        ctx.say(BUTTON_GONE)
        return
    kind = ReportKind(report.kind)
    if what == "ro":
        journey = ctx.engine.runner.journeys["meeting" if kind == ReportKind.meeting else "dialogue"]
        data = ctx.uow.reports.latest_data(report.id)
        text = ctx.engine.runner.summary(ctx, journey, data).split("\n", 2)[-1]
        head = ctx.t(
            N_("{kind} of {unit} on {date}, version {version}:"),
            kind=ctx.t(KIND_LABELS[kind]),
            unit=unit.name,
            date=format_date(report.held_on),
            version=report.version,
        )
        buttons = (
            [[Button(ctx.t(N_("✅ Accept")), f"dv:ra:{report.id}:{report.version}")]]
            if report.status == ReportStatus.submitted
            else []
        )
        ctx.say_text(head + "\n" + text, buttons=buttons)
        return
    version = ascii_int(args[1], 6) if len(args) > 1 else None
    try:
        if version != report.version:
            raise ReviewConflict(report)
        ctx.uow.reviews.accept_report(report, account_id=ctx.account_id, now=ctx.now)
    except ReviewConflict:
        ctx.say(
            N_(
                "This report changed since that button was sent (a new version, withdrawn, or already accepted). Nothing was stored."
            )
        )
        return
    ctx.say(
        N_("Accepted: the report of {date} of {unit}. It can no longer be changed by the unit."),
        unit=unit.name,
        date=format_date(report.held_on),
    )
    for account_id in dict.fromkeys([report.created_by, *_secretaries(ctx, unit.id)]):
        ctx.notify(
            account_id,
            N_("{reviewer} accepted the report of {date} of {unit}. It can no longer be changed."),
            reviewer=_reviewing_name(ctx, unit),
            date=format_date(report.held_on),
            unit=unit.name,
        )


_PLAN_ACTIONS = {
    "a": _accept,
    "r": _return_pick,
    "c": _return_comment,
    "e": _rating_start,
    "t": _task_action,
    "g": _grade,
    "f": _confirm,
    "x": _override,
}
