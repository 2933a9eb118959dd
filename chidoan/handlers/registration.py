"""Registering the yearly plan of a programme ("3 chủ động"): /dangky, /kehoach, /trangthai.

The journey is built from the programme file: one "add another?" list of tasks per area
(item, what, when, who, expected result), then sections I and III of the plan with a suggested
text, then the summary. Submitting stores a new version (the first is judged on time or late
against the programme's deadline), makes the KẾ HOẠCH document and tells the district.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypeGuard

from sqlalchemy import Row

from chidoan.documents.plan import PlanArea, PlanDocument, PlanTask, plan_filename, render_plan
from chidoan.engine.context import Ctx
from chidoan.engine.inputs import ascii_int, parse_id, period_years
from chidoan.engine.journey import Answers, Choice, Journey, Kind, Step
from chidoan.engine.messages import BUTTON_GONE, Attachment, Button
from chidoan.handlers.access import BASE_UNIT, SECRETARIES, acting_unit, refuse
from chidoan.handlers.labels import VIEW
from chidoan.handlers.review import part_labels, part_targets
from chidoan.handlers.scope import reviews_unit
from chidoan.i18n import N_, fold, format_date, gettext
from chidoan.programmes.loader import Programme, programme_for, programmes
from chidoan.reminders.obligations import Calendar, plan_key
from chidoan.storage.conversations import ConversationState
from chidoan.storage.models import ConversationStatus, RegistrationStatus, ReviewResult, Role, UnitKind
from chidoan.storage.registrations import NewerVersion, RegistrationReadOnly, StatusChanged
from chidoan.storage.uow import UnitOfWork

REGISTERING_ROLES = SECRETARIES
# The plan is a Vietnamese document whatever language the secretary chats in: one-tap answers
# that end up in it are offered in Vietnamese.
DOCUMENT_LOCALE = "vi"
IN_CHARGE = (N_("Standing committee"), N_("Executive committee"), N_("The secretary"))
EDIT_LOCK = timedelta(hours=12)  # after this an unfinished editor no longer holds others back


def journey_name(programme: Programme) -> str:
    return f"registration:{programme.code}"


# ---- the journey, built from a programme ------------------------------------------------------


def build_journey(programme: Programme) -> Journey:
    areas = tuple(_area_step(programme, area) for area in programme.areas)
    return Journey(
        name=journey_name(programme),
        title=N_("Plan registration"),
        steps=(
            *areas,
            Step(
                "purpose",
                N_(
                    "Section I, purpose and requirements. Suggested text:\n\n{default}\n\nPress the button to use it, or type your own."
                ),
                label=N_("I. Purpose and requirements"),
                max_len=4000,
                params=lambda _c, _a: {"default": programme.defaults.purpose},
                suggest=lambda ctx, _a: [(ctx.t(N_("✅ Use the suggested text")), programme.defaults.purpose)],
            ),
            Step(
                "implementation",
                N_(
                    "Section III, implementation. Suggested text:\n\n{default}\n\nPress the button to use it, or type your own."
                ),
                label=N_("III. Implementation"),
                max_len=4000,
                params=lambda _c, _a: {"default": programme.defaults.implementation},
                suggest=lambda ctx, _a: [(ctx.t(N_("✅ Use the suggested text")), programme.defaults.implementation)],
            ),
        ),
        complete=lambda ctx, answers: submit(ctx, programme, answers),
        submit_label=N_("✅ Submit the plan"),
    )


def _area_step(programme: Programme, area) -> Step:
    key = f"area{area.number}"

    def intro(ctx: Ctx, answers: Answers) -> dict:
        tasks = answers.get(key) or []
        where = (ctx.position or "").split(".")
        index = int(where[1]) if len(where) == 3 and where[0] == key else len(tasks)  # an edit names its task
        if tasks:  # the area was introduced with its first task
            return {"intro": "", "number": area.number, "n": index + 1}
        items = "\n".join(f"{item.code} {item.short}" for item in area.items)
        head = ctx.t(
            N_("Area {number} of {total}: {title}\nItems:\n{items}"),
            number=area.number,
            total=len(programme.areas),
            title=area.title,
            items=items,
        )
        return {"intro": head + "\n\n", "number": area.number, "n": 1}

    return Step(
        key,
        N_("Tasks"),
        kind=Kind.repeat,
        label=f"{area.number}. {area.short}",
        more_prompt=N_("Add another task to area {number}?"),
        params=lambda _ctx, _answers: {"number": area.number},
        steps=(
            Step(
                "item",
                N_("{intro}Task {n} of area {number}: which item does it serve?"),
                kind=Kind.choice,
                label=N_("Item"),
                params=intro,
                choices=tuple(Choice(item.code, f"{item.code} {item.short}") for item in area.items),
            ),
            Step(
                "what",
                N_("What will be done? Be concrete (what, for whom, how many)."),
                label=N_("Task"),
                min_len=5,
                max_len=3000,
            ),
            Step(
                "when",
                N_("When? A month (“March”), a quarter (“Q2”), a date, or “all year”."),
                kind=Kind.period,
                label=N_("When"),
                doubt=_outside_plan_year,
            ),
            Step(
                "who",
                N_("Who is in charge?"),
                label=N_("In charge"),
                max_len=300,
                suggest=lambda _ctx, _a: [gettext(DOCUMENT_LOCALE, who) for who in IN_CHARGE],
            ),
            Step(
                "result", N_("Expected result (optional)?"), label=N_("Expected result"), required=False, max_len=1000
            ),
        ),
    )


def _outside_plan_year(_ctx: Ctx, answers: Answers, when: str) -> tuple[str, dict] | None:
    """A task dated in another year than the plan's ("Quý I/2026" in the 2027 plan) is most
    likely a slip of the year, but may be meant (a task begun the year before): asked."""
    year = answers.get("_year")  # a draft begun before the plan year was kept has none
    others = sorted(period_years(when) - {year}) if year else []
    if not others:
        return None
    return N_("“{when}” is not in {year}, the year of this plan. Keep it?"), {"when": when, "year": year}


# ---- /dangky ------------------------------------------------------------------------------------


def registering_unit(ctx: Ctx) -> Row | None:
    """The base unit this person may register for (as its secretary or deputy)."""
    return acting_unit(ctx, kinds=BASE_UNIT, roles=REGISTERING_ROLES)


def register_command(ctx: Ctx, args: str) -> None:
    unit = registering_unit(ctx)
    if unit is None:
        return _who_registers(ctx)
    years = _years(ctx, unit)
    if not years:
        ctx.say(N_("No programme is open for registration now."))
        return
    if args.strip():
        year = ascii_int(args.strip(), 4)
        if year not in years:
            ctx.say(
                N_("Plans can be registered for {years}; {year} is not covered by the programme."),
                years=", ".join(map(str, years)),
                year=args.strip()[:8],
            )
            return
        return open_plan(ctx, unit, year)
    if len(years) == 1:
        return open_plan(ctx, unit, years[0])
    default = ctx.today.year + 1 if ctx.today.year + 1 in years else years[0]
    ordered = [default] + [y for y in years if y != default]
    ctx.say(N_("Register the plan for which year?"), buttons=[[Button(str(y), f"reg:open:{y}") for y in ordered]])


def _years(ctx: Ctx, unit: Row) -> list[int]:
    found = []
    for programme in programmes(ctx.settings).values():
        if UnitKind(unit.kind) in programme.registering_kinds:
            found += programme.plan_years(ctx.today)
    return sorted(set(found))


def registers(ctx: Ctx, unit: Row) -> bool:
    """Whether this person registers `unit`'s plan (else it is shown to them without /dangky)."""
    own = registering_unit(ctx)
    return own is not None and own.id == unit.id


def _who_registers(ctx: Ctx) -> None:
    for role in ctx.roles:
        if role.role in REGISTERING_ROLES and role.kind in (UnitKind.branch, UnitKind.branch_group):
            unit = ctx.uow.units.one(role.unit_id)
            base = next((a for a in reversed(ctx.uow.units.ancestors(unit)) if a.kind == UnitKind.base_unit), None)
            if base is not None:
                ctx.say(
                    N_(
                        "The plan is registered by the secretary of the base unit, {unit}, for all its branches. Please send your branch's proposals to them."
                    ),
                    unit=base.name,
                )
                return
    ctx.say(N_("The plan is registered by the secretary or deputy secretary of a base unit (Đoàn cơ sở)."))


def open_plan(ctx: Ctx, unit: Row, year: int) -> None:
    programme = programme_for(programmes(ctx.settings), year, UnitKind(unit.kind))
    if programme is None:
        ctx.say(N_("No programme covers {year}."), year=year)
        return
    registration = ctx.uow.registrations.open(unit.id, programme.code, year, ctx.now)
    if registration.status == RegistrationStatus.reviewed:
        ctx.say(
            N_(
                "The union above has already reviewed your plan for {year}; it can no longer be changed. Type /kehoach to get the document."
            ),
            year=year,
        )
        return
    name = journey_name(programme)
    if _is_draft_of(ctx.uow.conversations.active(ctx.account_id), name, registration, ctx) or _paused_drafts(
        ctx, name, registration
    ):
        ctx.say(
            N_("You have an unfinished plan for {year}. Continue where you left off, or start over?"),
            year=year,
            buttons=[
                [
                    Button(ctx.t(N_("Continue")), f"reg:continue:{registration.id}"),
                    Button(ctx.t(N_("Discard the draft")), f"reg:restart:{registration.id}"),
                ]
            ],
        )
        return
    editor = _other_editor(ctx, registration)
    if editor is not None:
        ctx.say(
            N_(
                "{name} started editing this plan at {time}. To avoid overwriting each other's work, please wait until they submit, or agree who finishes it."
            ),
            name=editor.full_name or "?",
            time=registration.editing_since.astimezone(ctx.tz).strftime("%H:%M %d/%m/%Y"),
            buttons=[[Button(ctx.t(N_("Edit anyway")), f"reg:force:{registration.id}")]],
        )
        return
    if registration.status == RegistrationStatus.returned:  # straight to the returned parts
        return _start(ctx, programme, registration, _latest_answers(ctx, registration))
    if registration.version > 0:
        latest = ctx.uow.registrations.version(registration.id, registration.version)
        submitter = ctx.uow.accounts.one(latest.submitted_by)
        ctx.say(
            N_(
                "Your unit has already registered its plan for {year} (version {version}, sent on {date} by {name}). Do you want to edit it? A new version will be kept beside the old one."
            ),
            year=year,
            version=registration.version,
            date=format_date(latest.submitted_at.astimezone(ctx.tz)),
            name=submitter.full_name or "?",
            buttons=[[Button(ctx.t(N_("✏️ Edit the plan")), f"reg:edit:{registration.id}")]],
        )
        return
    _start(ctx, programme, registration, answers=None)


def _is_draft_of(
    state: ConversationState | None, journey: str, registration: Row, ctx: Ctx
) -> TypeGuard[ConversationState]:
    return (
        state is not None
        and state.journey == journey
        and state.data["ctx"].get("registration_id") == registration.id
        and _same_round(ctx, state.data["ctx"], registration)
    )


def _paused_drafts(ctx: Ctx, journey: str, registration: Row) -> list:
    """This person's set-aside drafts of the plan, newest first (only those started from its
    current version and status: an older one could only end in a "newer version" refusal, and a
    whole-plan edit begun before a return is not the correction of the returned parts)."""
    return [
        conv
        for conv in reversed(
            ctx.uow.conversations.history(ctx.account_id, journey=journey, statuses=[ConversationStatus.paused])
        )
        if conv.data["ctx"].get("registration_id") == registration.id
        and conv.data["ctx"].get("base_version") == registration.version
        and _same_round(ctx, conv.data["ctx"], registration)
    ]


def _same_round(ctx: Ctx, context: dict, registration: Row) -> bool:
    """Whether a draft was begun in the registration's present state (a draft from before this
    field was kept counts as begun in it)."""
    if "base_status" not in context:
        return True
    return context["base_status"] == registration.status and context.get("reopen") == _reopened_parts(ctx, registration)


def _reopened_parts(ctx: Ctx, registration: Row) -> list[str] | None:
    """The parts ("task:2", "section:I") the reviewing union reopened, while it is returned."""
    if registration.status != RegistrationStatus.returned:
        return None
    back = ctx.uow.reviews.last_return(registration.id)
    return list(back.detail.get("parts", [])) if back is not None else None


def _other_editor(ctx: Ctx, registration: Row) -> Row | None:
    """Someone else with this plan open (recently, and not cancelled since)."""
    if registration.editing_by in (None, ctx.account_id) or registration.editing_since is None:
        return None
    if ctx.now - registration.editing_since > EDIT_LOCK:
        return None
    open_ones = ctx.uow.conversations.history(
        registration.editing_by, statuses=[ConversationStatus.active, ConversationStatus.paused]
    )
    still_open = any(conv.data.get("ctx", {}).get("registration_id") == registration.id for conv in open_ones)
    return ctx.uow.accounts.get(registration.editing_by) if still_open else None


def _start(ctx: Ctx, programme: Programme, registration: Row, answers: Answers | None) -> None:
    ctx.uow.registrations.set_editor(registration.id, ctx.account_id, ctx.now)
    context = {
        "registration_id": registration.id,
        "base_version": registration.version,
        "base_status": registration.status,
    }
    parts = _reopened_parts(ctx, registration)
    hidden = {"_year": registration.year}  # not a step: what the steps' checks need to know
    if parts and answers is not None:
        return _start_correction(ctx, programme, registration, answers | hidden, context | {"reopen": parts})
    if answers is None:
        unit = ctx.uow.units.one(registration.unit_id)
        due = Calendar.load(ctx.uow, ctx.settings).plan_due(
            programme, registration.year, unit
        )  # as the reviewing unit moved it
        ctx.say(
            N_(
                "Registering the {programme} plan of {unit} for {year}. Deadline: before {due}. For each of the {areas} areas, add at least one concrete task. You can leave at any time and continue later with /dangky."
            ),
            programme=programme.short_name,
            unit=unit.name,
            year=registration.year,
            due=format_date(due),
            areas=len(programme.areas),
        )
    ctx.engine.runner.start(ctx, journey_name(programme), context=context, answers=(answers or {}) | hidden)


def _start_correction(ctx: Ctx, programme: Programme, registration: Row, answers: Answers, context: dict) -> None:
    """A returned plan: only the parts the reviewing union reopened are asked again, in order;
    the rest is kept as in the returned version (and `submit` takes it from there)."""
    back = ctx.uow.reviews.last_return(registration.id)
    assert back is not None
    ctx.say(
        N_(
            "{reviewer} returned the plan for {year} for correction.\nParts to correct: {parts}\nComment: {comment}\nYou will be taken through these parts only; the rest stays as it is. Then check the summary and send the plan again."
        ),
        reviewer=ctx.uow.accounts.one(back.account_id).full_name or "?",
        year=registration.year,
        parts=part_labels(ctx.locale, programme, answers, context["reopen"]),
        comment=back.detail.get("comment", ""),
    )
    ctx.engine.runner.start(
        ctx,
        journey_name(programme),
        context=context,
        answers=answers,
        only=part_targets(programme, answers, context["reopen"]),
    )


def registration_action(ctx: Ctx, arg: str) -> None:
    """Buttons "reg:<what>:<id or year>"."""
    what, _, value = arg.partition(":")
    unit = registering_unit(ctx)
    ident = parse_id(value)  # a year or a registration's id; forged digits are neither
    if unit is None or ident is None:
        ctx.say(BUTTON_GONE)
        return
    if what == "open":
        return _open_year(ctx, unit, ident)
    registration = ctx.uow.registrations.get(ident)
    if registration is None or registration.unit_id != unit.id:
        ctx.say(BUTTON_GONE)
        return
    programme = programmes(ctx.settings)[registration.programme]
    name = journey_name(programme)
    state = ctx.uow.conversations.active(ctx.account_id)
    if what == "continue":
        if _is_draft_of(state, name, registration, ctx):
            return ctx.engine.runner.ask(ctx, state)
        draft = next(iter(_paused_drafts(ctx, name, registration)), None)
        if draft is not None:
            ctx.engine.runner.resume(ctx, draft.id)
            return
        return open_plan(ctx, unit, registration.year)
    if what in ("restart", "force"):
        if _is_draft_of(state, name, registration, ctx):
            ctx.engine.runner.close(ctx, state, ConversationStatus.cancelled)
        for draft in _paused_drafts(ctx, name, registration):  # discarded for good
            ctx.uow.conversations.set_status(draft.id, ConversationStatus.cancelled, ctx.now)
        answers = _latest_answers(ctx, registration) if registration.version else None
        return _start(ctx, programme, registration, answers)
    if what == "edit":
        if registration.version == 0 or registration.status in (
            RegistrationStatus.reviewed,
            RegistrationStatus.returned,
        ):  # a draft to continue, a reviewed plan to refuse, a correction under way to go on with
            return open_plan(ctx, unit, registration.year)
        return _start(ctx, programme, registration, _latest_answers(ctx, registration))
    ctx.say(BUTTON_GONE)


def _open_year(ctx: Ctx, unit: Row, year: int) -> None:
    if year not in _years(ctx, unit):  # an old button: that year has closed since
        ctx.say(BUTTON_GONE)
        return
    open_plan(ctx, unit, year)


def _latest_answers(ctx: Ctx, registration: Row) -> Answers:
    return dict(ctx.uow.registrations.version(registration.id, registration.version).data)


# ---- submitting ---------------------------------------------------------------------------------


REVIEWED_MEANWHILE = N_(
    "The union above reviewed this plan in the meantime, so it can no longer be changed. Your answers are kept in the history."
)
RETURNED_MEANWHILE = N_(
    "The reviewing union returned this plan for correction while you were editing, so your version was not stored (your answers are kept in the history). Type /dangky to correct the parts it returned."
)


# How a first submission is judged: the submitter's words, then the reviewers' notice.
TIMING = {
    "on_time": N_("on time (deadline: before {due})"),
    "late": N_("late (the deadline was before {due})"),
    "joined_after": N_("not late: your unit joined after the common deadline (before {due})"),
}
NOTICE = {
    "on_time": N_("{unit} submitted its {programme} plan for {year} (version {version}), on time."),
    "late": N_(
        "{unit} submitted its {programme} plan for {year} (version {version}), late: the deadline was before {due}."
    ),
    "joined_after": N_(
        "{unit} submitted its {programme} plan for {year} (version {version}); it joined after the common deadline (before {due}), so it is not late."
    ),
}


def _judged(ctx: Ctx, programme: Programme, year: int, unit: Row) -> tuple[date, str]:
    """The deadline in force (the reviewing unit may have moved it, /hanchot) and how a plan sent
    now is judged: "on_time", "late", or "joined_after" when the unit's first secretary or deputy
    was bound after it: the unit never owed that deadline (the start rule of the reminders and
    /trangthai), so its plan is not late, whenever it comes."""
    cal = Calendar.load(ctx.uow, ctx.settings)
    due = cal.plan_due(programme, year, unit)
    if ctx.now.astimezone(ctx.tz).date() < due:
        return due, "on_time"
    return due, "late" if cal.owes(due, cal.start_of(ctx.uow, unit)) else "joined_after"


def submit(ctx: Ctx, programme: Programme, answers: Answers) -> None:
    uow = ctx.uow
    context = answers.pop("_ctx")
    answers = {key: value for key, value in answers.items() if not key.startswith("_")}  # steps' answers only
    registration = uow.registrations.one(context["registration_id"])
    if _refused(ctx, registration, context):
        return
    if context.get("reopen"):  # a correction: only the reopened parts are taken from this edit
        answers = _corrected(programme, _latest_answers(ctx, registration), answers, context["reopen"])
    unit = uow.units.one(registration.unit_id)
    due_day, judgement = _judged(ctx, programme, registration.year, unit)
    on_time = judgement != "late"
    correction = bool(context.get("reopen"))
    if correction:  # asked for by the reviewing union, often after the deadline: not a late plan
        on_time = bool(registration.on_time)  # the first submission's judgement stands
    document = plan_document(ctx, programme, unit, registration.year, answers)
    filename = plan_filename(document.unit_abbr, registration.year)
    try:
        with uow.savepoint():  # a refused version leaves no document behind
            document_id = uow.documents.add(
                kind="plan",
                filename=filename,
                content=ctx.rendered(render_plan, document, programme.document.template),
                now=ctx.now,
            )
            version = uow.registrations.add_version(
                registration,
                data=answers,
                account_id=ctx.account_id,
                now=ctx.now,
                on_time=on_time,
                document_id=document_id,
                expected_status=context.get("base_status"),
            )
    except RegistrationReadOnly:  # reviewed a moment ago, after the check above
        return refuse(ctx, REVIEWED_MEANWHILE)
    except StatusChanged:  # returned a moment ago
        return refuse(ctx, RETURNED_MEANWHILE)
    except NewerVersion as refused:
        return _newer_version(ctx, refused.current)
    uow.reminders.met(plan_key(programme.code, registration.year, unit.id), ctx.now)  # its reminders stop now
    due = format_date(due_day)
    if correction:
        ctx.send_document(
            document_id,
            filename,
            N_(
                "Your corrected plan for {year} has been sent again (version {version}). Here is the document to print, sign and file. /kehoach sends it again."
            ),
            year=registration.year,
            version=version,
        )
    else:
        ctx.send_document(
            document_id,
            filename,
            N_(
                "Your plan for {year} has been submitted (version {version}), {timing}. Here is the document to print, sign and file. /kehoach sends it again."
            ),
            year=registration.year,
            version=version,
            timing=ctx.t(TIMING[judgement], due=due),
        )
    reviewer = uow.units.reviewer(unit)
    notice = NOTICE[judgement]
    staff_ids = [
        staff.account_id for staff in (uow.roles.holders(reviewer.id, Role.district_staff) if reviewer else [])
    ]
    # The document goes with it, and a button that opens the unit's page (/xem, handlers/units.py).
    buttons = [[(VIEW, f"un:open:{unit.id}")]]
    if correction:  # corrected and sent again: told to the reviewers and whoever returned it
        notice = N_("{unit} corrected its {programme} plan for {year} and sent it again (version {version}).")
        back = uow.reviews.last_return(registration.id)
        # ... if they still review the unit (their roles as they are now: they may have left since)
        if back is not None and reviews_unit(uow.roles.active_of(back.account_id), unit):
            staff_ids.append(back.account_id)
        buttons = [[(N_("Open the plan"), f"dv:o:{registration.id}")]]
    for account_id in dict.fromkeys(staff_ids):
        ctx.notify(
            account_id,
            notice,
            attachment=Attachment(document_id, filename),
            buttons=buttons,
            unit=unit.name,
            programme=programme.short_name,
            year=registration.year,
            version=version,
            due=due,
        )


def _corrected(programme: Programme, previous: Answers, edited: Answers, parts: list[str]) -> Answers:
    """The returned version with only the reopened parts taken from the edit: whatever else the
    edit holds, the rest stays exactly as it was."""
    data = {
        key: ([dict(item) for item in value] if isinstance(value, list) else value) for key, value in previous.items()
    }
    for target in part_targets(programme, previous, parts):
        key, _, index = target.partition(".")
        if index:
            data[key][int(index)] = edited[key][int(index)]
        else:
            data[key] = edited[key]
    return data


def _refused(ctx: Ctx, registration: Row, context: dict) -> bool:
    """Whether this submission may not be stored; if so, the conversation is closed and the
    person told why (storage checks the status and the version again in its write)."""
    base_version = context["base_version"]
    if acting_unit(ctx, kinds=BASE_UNIT, roles=REGISTERING_ROLES, unit_id=registration.unit_id) is None:
        refuse(  # e.g. replaced by a new secretary meanwhile
            ctx,
            N_(
                "You no longer register the plan of this unit, so it was not submitted. Your answers are kept in the history."
            ),
        )
    elif registration.status == RegistrationStatus.reviewed:
        refuse(ctx, REVIEWED_MEANWHILE)
    elif registration.version != base_version:
        _newer_version(ctx, registration)
    elif "base_status" in context and registration.status != context["base_status"]:
        refuse(ctx, RETURNED_MEANWHILE)
    else:
        return False
    return True


def _newer_version(ctx: Ctx, registration: Row) -> None:
    latest = ctx.uow.registrations.version(registration.id, registration.version)
    refuse(
        ctx,
        N_(
            "{name} sent a newer version of this plan ({time}) while you were editing, so yours was not saved over it. Type /dangky to start from theirs."
        ),
        name=ctx.uow.accounts.one(latest.submitted_by).full_name or "?",
        time=latest.submitted_at.astimezone(ctx.tz).strftime("%H:%M %d/%m/%Y"),
    )


def plan_document(ctx: Ctx, programme: Programme, unit: Row, year: int, answers: Answers) -> PlanDocument:
    return build_plan_document(ctx.uow, programme, unit, year, answers, account_id=ctx.account_id, today=ctx.today)


def build_plan_document(
    uow: UnitOfWork, programme: Programme, unit: Row, year: int, answers: Answers, *, account_id: int, today: date
) -> PlanDocument:
    """The plan's document as a submission by `account_id` on `today` makes it (the demo data too).
    Signed by whoever submits it, as the roles they hold on the unit now: the secretary, or the
    deputy on the secretary's behalf; anyone else's submission is signed by the secretary."""
    parents = uow.units.ancestors(unit)
    parent = parents[-1] if parents else None
    reviewer = uow.units.reviewer(unit)
    held = {role.role for role in uow.roles.active_of(account_id) if role.unit_id == unit.id}
    signed_by_deputy = Role.deputy in held and Role.secretary not in held
    secretaries = uow.roles.holders(unit.id, Role.secretary)
    signer_id = account_id if held & {Role.secretary, Role.deputy} or not secretaries else secretaries[0].account_id
    signer = uow.accounts.one(signer_id)
    areas = []
    for area in programme.areas:
        titles = {item.code: item.short for item in area.items}
        order = {code: index for index, code in enumerate(titles)}
        # Grouped under their items in the programme's order (an item it no longer has, last).
        tasks = sorted(answers.get(f"area{area.number}", []), key=lambda task: order.get(task["item"], len(order)))
        areas.append(
            PlanArea(
                area.number,
                area.title,
                [
                    PlanTask(
                        task["item"],
                        task["what"],
                        task["when"],
                        task["who"],
                        task.get("result"),
                        item_title=titles.get(task["item"], ""),
                    )
                    for task in tasks
                ],
            )
        )
    return PlanDocument(
        committee_line=(parent.name if parent else "").upper(),
        unit_line=f"BCH {unit.name.upper()}",
        unit_name=unit.name,
        unit_abbr=abbreviation(unit.name),
        number="",
        place=place_of(unit.name),
        date=today,
        year=year,
        title=programme.document.title.format(year=year),
        programme_short=programme.short_name,
        basis=programme.source,
        purpose=answers["purpose"],
        areas=areas,
        implementation=answers["implementation"],
        signer_name=signer.full_name or "",
        signed_by_deputy=signed_by_deputy,
        recipients=[f"BTV {reviewer.name}"] if reviewer else [],
    )


_UNIT_WORDS = ("doan", "phuong", "xa", "thi", "tran", "truong", "chi", "lien", "co", "so")


def place_of(unit_name: str) -> str:
    """'Đoàn phường Vĩnh Bảo' -> 'Vĩnh Bảo': the place line of the document."""
    words = unit_name.split()
    index = 0
    while index < len(words) - 1 and fold(words[index]) in _UNIT_WORDS:
        index += 1
    return " ".join(words[index:])


def abbreviation(unit_name: str) -> str:
    """'Đoàn phường Vĩnh Bảo' -> 'ĐPVB', as document numbers abbreviate the issuer."""
    return "".join(word[0].upper() for word in unit_name.split() if word[0].isalpha())


# ---- /kehoach and /trangthai ------------------------------------------------------------------


def _unit_for_plans(ctx: Ctx) -> Row | None:
    """The base unit whose plan this person follows: their own, or their branch's base unit."""
    unit = registering_unit(ctx)
    if unit is not None:
        return unit
    for role in ctx.roles:
        if role.kind in (UnitKind.branch, UnitKind.branch_group):
            branch = ctx.uow.units.one(role.unit_id)
            return next((a for a in reversed(ctx.uow.units.ancestors(branch)) if a.kind == UnitKind.base_unit), None)
    return None


def plan_command(ctx: Ctx, args: str) -> None:
    unit = _unit_for_plans(ctx)
    submitted = [r for r in ctx.uow.registrations.of_unit(unit.id) if r.version > 0] if unit else []
    year = ascii_int(args.strip(), 4)
    if year is not None:
        submitted = [r for r in submitted if r.year == year]
    if unit is None or not submitted:
        if unit is not None and not registers(ctx, unit):  # a branch follows its base unit's plan
            ctx.say(N_("{unit} has not submitted a plan yet."), unit=unit.name)
        else:
            ctx.say(N_("No plan has been submitted yet. Type /dangky to register one."))
        return
    registration = submitted[0]  # the newest year
    version = ctx.uow.registrations.version(registration.id, registration.version)
    document = ctx.uow.documents.one(version.document_id)
    ctx.send_document(
        document.id,
        document.filename,
        N_("The plan of {unit} for {year}, version {version} (sent on {date})."),
        unit=unit.name,
        year=registration.year,
        version=version.version,
        date=format_date(version.submitted_at.astimezone(ctx.tz)),
    )


def status_command(ctx: Ctx, _args: str) -> None:
    unit = _unit_for_plans(ctx)
    if unit is None:
        ctx.say(N_("Your unit has no obligations under a programme."))
        return
    lines = [ctx.t(N_("Obligations of {unit}:"), unit=unit.name)]
    cal = Calendar.load(ctx.uow, ctx.settings)
    start = cal.start_of(ctx.uow, unit)
    for programme in programmes(ctx.settings).values():
        if UnitKind(unit.kind) not in programme.registering_kinds:
            continue
        years = [y for y in (ctx.today.year, *programme.plan_years(ctx.today)) if programme.covers(y)]
        for year in sorted(set(years)):
            lines.append(_status_line(ctx, cal, start, programme, unit, year))
    ctx.say_text("\n".join(lines))


NOT_YET = N_("not submitted yet, {days} days left.")
OVERDUE = N_("not submitted, overdue.")


def _status_line(ctx: Ctx, cal: Calendar, start: date | None, programme: Programme, unit: Row, year: int) -> str:
    """One plan year: its deadline in force (moved or not), and what is done. A plan that fell
    due before the unit joined is shown as not required (the reminders' start rule), not late."""
    due = cal.plan_due(programme, year, unit)
    head = ctx.t(
        N_("• {programme} plan for {year}, due before {due}:"),
        programme=programme.short_name,
        year=year,
        due=format_date(due),
    )
    registration = ctx.uow.registrations.find(unit.id, programme.code, year)
    own = registers(ctx, unit)  # a branch's secretary sees the base unit's plan, not sent to /dangky
    if registration is None or registration.version == 0:
        days = (due - ctx.today).days
        if days > 0:
            left = N_("not submitted yet, {days} days left. /dangky") if own else NOT_YET
            return head + " " + ctx.t(left, days=days)
        if not cal.owes(due, start):
            return head + " " + ctx.t(N_("not required: the deadline passed before your unit joined."))
        return head + " " + ctx.t(N_("not submitted, overdue. Please submit it now: /dangky") if own else OVERDUE)
    when = format_date(registration.first_submitted_at.astimezone(ctx.tz))
    state = N_("waiting for the review of the union above")
    if registration.status == RegistrationStatus.reviewed:
        state = {
            ReviewResult.passed: N_("rated passed"),
            ReviewResult.not_passed: N_("rated not passed"),
        }.get(registration.result, N_("reviewed by the union above"))
    elif registration.status == RegistrationStatus.returned:
        state = N_("returned for correction: type /dangky to correct it") if own else N_("returned for correction")
    timing = N_("on time") if registration.on_time else N_("late")
    return (
        head
        + " "
        + ctx.t(
            N_("first submitted on {date} ({timing}); now at version {version}, {state}."),
            date=when,
            timing=ctx.t(timing),
            version=registration.version,
            state=ctx.t(state),
        )
    )
