"""Branch meeting reports (/sinhhoat): date, kind, theme, attendance, content, members' opinions,
decisions, and photos of the minutes or the attendance sheet.

A date in the future is refused; a date more than a year back, or one already reported, is
asked about once more (a likely typo or a duplicate) and allowed when confirmed. The branch's
size is remembered from its last report and offered with one tap; a size beyond any branch's
(1.200 typed for 120) is asked about before it is kept.
"""

from __future__ import annotations

from datetime import date, timedelta

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import format_number
from chidoan.engine.journey import Answers, Choice, Journey, Kind, Step
from chidoan.handlers.reports import hidden_answers, reporting_unit, save_report
from chidoan.i18n import N_, format_date
from chidoan.storage.models import ReportKind

LONG_AGO = timedelta(days=365)
BRANCH_SIZE = 300  # more members than any branch has: a slip of a digit or of the thousands mark


def meeting_command(ctx: Ctx, _args: str) -> None:
    unit = reporting_unit(ctx)
    if unit is None:
        ctx.say(N_("Meeting reports are sent by the secretary or deputy secretary of a branch or base unit."))
        return
    ctx.say(N_("Meeting report for {unit}. About ten short questions; /huy cancels."), unit=unit.name)
    ctx.engine.runner.start(
        ctx, MEETING.name, context={"unit": unit.id}, answers=hidden_answers(ctx, unit, ReportKind.meeting)
    )


def _long_ago(answers: Answers) -> bool:
    held, today = answers.get("held_on"), answers.get("_today")  # no "_today": a stored report shown
    return held is not None and today is not None and date.fromisoformat(held) < date.fromisoformat(today) - LONG_AGO


def _reported(answers: Answers) -> bool:
    return answers.get("held_on") in answers.get("_reported", [])


def _present_fits(ctx: Ctx, answers: Answers, value: int):
    if value > answers["total"]:
        return N_("{present} present is more than the {total} members of {unit}. Please check the number."), {
            "present": value,
            "total": answers["total"],
        } | _unit_named(ctx, answers)
    return None


def _branch_size(ctx: Ctx, answers: Answers, value: int):
    """A branch bigger than branches are is asked about (a base unit reporting may be that big);
    the size it had last time, already confirmed then, is not asked again."""
    if not answers.get("_branch") or value <= BRANCH_SIZE or value == answers.get("_last_total"):
        return None
    return N_("{n} members is a lot for one branch. Is that the right number?"), {"n": format_number(value, ctx.locale)}


def _unit_named(ctx: Ctx, answers: Answers) -> dict:
    """{unit} in a question: the reporting unit's name, a branch's or a base unit's, so a ward's
    union is not asked about "the branch"."""
    unit = ctx.uow.units.get(answers["_unit"]) if answers.get("_unit") else None
    return {"unit": unit.name if unit is not None else ctx.t(THE_UNIT)}


THE_UNIT = N_("the unit")  # a conversation begun before the unit was kept among its hidden answers


def _last_total(ctx: Ctx, answers: Answers) -> list[str]:
    return [str(answers["_last_total"])] if answers.get("_last_total") else []


def _submit(ctx: Ctx, answers: Answers) -> None:
    saved = save_report(ctx, ReportKind.meeting, answers)
    if saved is None:
        return  # refused, and said why
    _report, _version, data, held_on = saved
    files = len(data.get("photos") or [])
    if files:
        text = N_(
            "Thank you! The meeting of {date} is reported: {present} of {total} members present, {files} file(s) attached."
        )
    else:  # no "0 files attached": the attachments go unmentioned
        text = N_("Thank you! The meeting of {date} is reported: {present} of {total} members present.")
    ctx.say(text, date=format_date(held_on), present=data["present"], total=data["total"], files=files)


def date_steps(question: str) -> tuple[Step, Step]:
    """When an event was held: not in the future, and asked about once more if over a year back
    (needs the hidden answer "_today")."""
    return (
        Step("held_on", question, kind=Kind.date, not_future=True, label=N_("Date")),
        Step(
            "long_ago_ok",
            N_("{date} is more than a year ago. Is that the right date?"),
            kind=Kind.yes_no,
            label=N_("Date checked"),
            when=_long_ago,
            params=lambda _c, a: {"date": format_date(date.fromisoformat(a["held_on"]))},
            next=lambda a: "held_on" if a.get("long_ago_ok") is False else None,
        ),
    )


MEETING = Journey(
    name="meeting",
    title=N_("Meeting report"),
    steps=(
        *date_steps(N_("When was the meeting? (day/month/year, or “today”, “yesterday”)")),
        Step(
            "again_ok",
            N_("A meeting on {date} is already reported. Is this another meeting on the same day?"),
            kind=Kind.yes_no,
            label=N_("Another meeting that day"),
            when=_reported,
            params=lambda _c, a: {"date": format_date(date.fromisoformat(a["held_on"]))},
            next=lambda a: "held_on" if a.get("again_ok") is False else None,
        ),
        Step(
            "kind",
            N_("What kind of meeting was it?"),
            kind=Kind.choice,
            label=N_("Kind"),
            choices=(
                Choice("regular", N_("Regular (monthly)")),
                Choice("themed", N_("Themed")),
                Choice("extraordinary", N_("Extraordinary")),
            ),
        ),
        Step("theme", N_("What was its theme?"), label=N_("Theme"), max_len=500),
        Step(
            "total",
            N_("How many members does {unit} have?"),
            kind=Kind.number,
            params=_unit_named,
            minimum=1,
            maximum=100000,
            label=N_("Members"),
            suggest=_last_total,
            doubt=_branch_size,
        ),
        Step(
            "present",
            N_("How many members were present?"),
            kind=Kind.number,
            minimum=0,
            maximum=100000,
            label=N_("Present"),
            validate=_present_fits,
        ),
        Step("content", N_("What was discussed and done?"), label=N_("Content"), min_len=5, max_len=3000),
        Step(
            "opinions",
            N_("What opinions and wishes did members raise? (optional)"),
            label=N_("Members' opinions and wishes"),
            required=False,
            max_len=3000,
        ),
        Step(
            "decisions",
            N_("What was decided, and what are the next steps? (optional)"),
            label=N_("Decisions and next steps"),
            required=False,
            max_len=3000,
        ),
        Step(
            "photos",
            N_(
                "Photos of the minutes or the attendance sheet (optional): send them now, then choose “Done”. If there are none, choose “Skip”."
            ),
            kind=Kind.photos,
            label=N_("Photos"),
            required=False,
        ),
    ),
    complete=_submit,
    submit_label=N_("✅ Send the report"),
)
