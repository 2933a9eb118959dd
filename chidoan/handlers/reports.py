"""A unit's reports of the year (/baocao): view one, edit it (a new version, the old ones kept)
or withdraw it; once the district has reviewed a report it is read-only.

Also what the report journeys (/sinhhoat, /doithoai) share with it: who reports, the hidden
answers their steps need, and saving a report; they import this module, never the reverse."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import parse_id
from chidoan.engine.journey import Answers
from chidoan.engine.messages import BUTTON_GONE, Button
from chidoan.handlers.access import BASE_UNIT, REPORTING_KINDS, acting_unit, refuse, still_acting
from chidoan.i18n import N_, format_date
from chidoan.reminders.obligations import commitment_key, dialogue_key, meeting_key
from chidoan.storage.models import ReportKind, ReportStatus, UnitKind
from chidoan.storage.reports import ReportReadOnly

KIND_LABELS = {ReportKind.meeting: N_("Meeting"), ReportKind.dialogue: N_("Dialogue")}
STATUS_LABELS = {ReportStatus.withdrawn: N_("withdrawn"), ReportStatus.reviewed: N_("reviewed")}
JOURNEYS = {ReportKind.meeting: "meeting", ReportKind.dialogue: "dialogue"}
# Who reports what: a branch's or a base unit's meetings, a base unit's dialogues.
REPORTED_BY = {ReportKind.meeting: REPORTING_KINDS, ReportKind.dialogue: BASE_UNIT}
CHANGED_MEANWHILE = {
    ReportStatus.reviewed: N_(
        "The union above reviewed this report in the meantime, so it can no longer be changed. Your edit was not saved."
    ),
    ReportStatus.withdrawn: N_("This report was withdrawn in the meantime, so your edit was not saved."),
}


def reporting_unit(ctx: Ctx) -> Row | None:
    """The branch (or, for its secretary, the whole base unit) this person reports for."""
    return acting_unit(ctx, kinds=REPORTING_KINDS)


def hidden_answers(ctx: Ctx, unit: Row, kind: ReportKind, editing: int | None = None) -> Answers:
    """Not steps: what the steps' conditions and suggestions need to know (today, the days
    already reported apart from the report being edited, the branch's size last time, the unit
    the questions name)."""
    reports = [r for r in ctx.uow.reports.of_unit(unit.id, kind) if r.id != editing and r.status != "withdrawn"]
    return {
        "_unit": unit.id,
        "_today": ctx.today.isoformat(),
        "_reported": [r.held_on.isoformat() for r in reports],
        "_last_total": ctx.uow.reports.latest_data(reports[-1].id).get("total") if reports else None,
        "_branch": unit.kind == UnitKind.branch,
    }


def save_report(ctx: Ctx, kind: ReportKind, answers: Answers) -> tuple[int, int, dict, date] | None:
    """Store a new report, or the next version of the one being edited.
    Returns (report id, version, the stored answers, the day it was held), or None when nothing
    may be stored (the person no longer acts for the unit, or the report was reviewed or withdrawn
    meanwhile): then the conversation is closed and the person told why."""
    context = answers["_ctx"]
    if still_acting(ctx, context["unit"], kinds=REPORTED_BY[kind]) is None:
        return None
    data = {k: v for k, v in answers.items() if not k.startswith("_")}
    held_on = date.fromisoformat(data["held_on"])
    if "report" in context:
        report_id = context["report"]
        try:
            version = ctx.uow.reports.add_version(
                report_id, data=data, held_on=held_on, account_id=ctx.account_id, now=ctx.now
            )
        except ReportReadOnly as refused:
            refuse(
                ctx, CHANGED_MEANWHILE.get(ReportStatus(refused.status), N_("This report can no longer be changed."))
            )
            return None
    else:
        report_id = ctx.uow.reports.add(
            unit_id=context["unit"], kind=kind, held_on=held_on, data=data, account_id=ctx.account_id, now=ctx.now
        )
        version = 1
    # Reported: its reminders not sent yet are cancelled at once.
    unit_id = context["unit"]
    key = meeting_key(unit_id, held_on) if kind == ReportKind.meeting else dialogue_key(unit_id, held_on.year)
    ctx.uow.reminders.met(key, ctx.now)
    return report_id, version, data, held_on


def reports_command(ctx: Ctx, _args: str) -> None:
    unit = reporting_unit(ctx)
    rows = ctx.uow.reports.of_unit_in(unit.id, ctx.today.year) if unit else []
    if unit is None or not rows:
        if unit is not None and unit.kind not in REPORTED_BY[ReportKind.dialogue]:  # a branch: meetings only
            ctx.say(N_("No reports yet this year. /sinhhoat reports a meeting."))
        else:
            ctx.say(N_("No reports yet this year. /sinhhoat reports a meeting, /doithoai a dialogue."))
        return
    buttons = []
    for report in rows[:30]:
        label = f"{format_date(report.held_on)} · {ctx.t(KIND_LABELS[ReportKind(report.kind)])} · v{report.version}"
        if report.status in STATUS_LABELS:
            label += f" · {ctx.t(STATUS_LABELS[ReportStatus(report.status)])}"
        buttons.append([Button(label, f"rp:view:{report.id}")])
    ctx.say(
        N_("Reports of {unit} in {year}: press one to see it."), unit=unit.name, year=ctx.today.year, buttons=buttons
    )


def show_report(
    ctx: Ctx,
    report: Row,
    data: dict,
    *,
    buttons: list[list[Button]] | None = None,
    unit: Row | None = None,
    files: bool = False,
) -> None:
    """A report in chat: its answers as the journey's summary shows them. With `unit`, headed by
    the unit's name (a base unit's page lists its branches' reports); with `files`, the photos of
    the minutes or the attendance sheet follow, each as the file that was sent."""
    kind = ReportKind(report.kind)
    journey = ctx.engine.runner.journeys[JOURNEYS[kind]]
    text = ctx.engine.runner.summary(ctx, journey, data).split("\n", 2)[-1]  # without "please check"
    head = ctx.t(
        N_("{kind} of {date}, version {version}:"),
        kind=ctx.t(KIND_LABELS[kind]),
        date=format_date(report.held_on),
        version=report.version,
    )
    if report.status in STATUS_LABELS:
        head += f" ({ctx.t(STATUS_LABELS[ReportStatus(report.status)])})"
    if unit is not None:
        head = f"{unit.name} ({unit.code})\n{head}"
    ctx.say_text(head + "\n" + text, buttons=buttons or [])
    photos = [p for p in data.get("photos") or [] if isinstance(p, dict) and p.get("document")]
    for number, photo in enumerate(photos if files else [], 1):
        ctx.send_document(
            photo["document"],
            photo.get("name") or "file",
            N_("File {n} of {total} of the report of {date}"),
            n=number,
            total=len(photos),
            date=format_date(report.held_on),
        )


def report_action(ctx: Ctx, arg: str) -> None:
    """Buttons "rp:<view|edit|withdraw>:<report id>", for the unit's own reports only; "withdraw"
    asks first, answered by "rp:withdraw-yes:<id>" or "rp:withdraw-no:<id>"."""
    what, _, ident = arg.partition(":")
    report = ctx.uow.reports.get(report_id) if (report_id := parse_id(ident)) else None
    unit = acting_unit(ctx, kinds=REPORTED_BY[ReportKind(report.kind)], unit_id=report.unit_id) if report else None
    if report is None or unit is None:
        ctx.say(BUTTON_GONE)
        return
    kind = ReportKind(report.kind)
    data = ctx.uow.reports.latest_data(report.id)
    read_only = report.status in (ReportStatus.reviewed, ReportStatus.withdrawn)
    if what.startswith("withdraw-") and report.status == ReportStatus.withdrawn:  # the question's, pressed again
        ctx.say(N_("The report of {date} is already withdrawn."), date=format_date(report.held_on))
        return
    if what == "withdraw-no":
        ctx.say(N_("All right, the report of {date} was not withdrawn."), date=format_date(report.held_on))
        return
    if what == "view":
        buttons = (
            []
            if read_only
            else [
                [
                    Button(ctx.t(N_("✏️ Edit")), f"rp:edit:{report.id}"),
                    Button(ctx.t(N_("Withdraw")), f"rp:withdraw:{report.id}"),
                ]
            ]
        )
        show_report(ctx, report, data, buttons=buttons)
        if report.status == ReportStatus.reviewed:
            ctx.say(N_("The union above has reviewed this report, so it can no longer be changed."))
        return
    if read_only:
        ctx.say(N_("This report can no longer be changed."))
        return
    if what == "withdraw":
        ctx.say(
            N_(
                "Withdraw the {kind} report of {date}? It will no longer count as reported and can no longer be edited; it stays in the history."
            ),
            kind=ctx.t(KIND_LABELS[kind]).lower(),
            date=format_date(report.held_on),
            buttons=[
                [
                    Button(ctx.t(N_("Yes")), f"rp:withdraw-yes:{report.id}"),
                    Button(ctx.t(N_("No")), f"rp:withdraw-no:{report.id}"),
                ]
            ],
        )
        return
    if what == "withdraw-yes":
        try:
            ctx.uow.reports.withdraw(report.id, ctx.now)
        except ReportReadOnly:  # reviewed a moment ago
            ctx.say(N_("This report can no longer be changed."))
            return
        for commitment in ctx.uow.reports.commitments(report.id):  # a withdrawn dialogue's are not chased
            ctx.uow.reminders.met(commitment_key(commitment), ctx.now)
        ctx.say(N_("The report of {date} is withdrawn. It stays in the history."), date=format_date(report.held_on))
        return
    if what == "edit":
        ctx.engine.runner.start(
            ctx,
            JOURNEYS[kind],
            context={"unit": unit.id, "report": report.id},
            answers=hidden_answers(ctx, unit, kind, editing=report.id) | data,
        )
        return
    ctx.say(BUTTON_GONE)
