"""Dialogue reports (/doithoai): a base unit's members put questions to local Party and
government leaders; what the leaders promised is kept as commitments, to be followed up on
their due dates."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.journey import Answers, Choice, Journey, Kind, Step
from chidoan.handlers.labels import VIEW
from chidoan.handlers.localities import leader_titles
from chidoan.handlers.meetings import date_steps, hidden_answers
from chidoan.handlers.registration import registering_unit
from chidoan.handlers.reports import save_report
from chidoan.i18n import N_, format_date
from chidoan.reminders.obligations import commitment_key
from chidoan.storage.models import ReportKind, Role

# The levels of the leaders met; there are no districts since 1/7/2025 (a dialogue before then may
# still be reported, and the exports name the three: exports/xlsx.LEVEL_VI).
LEVELS = (
    Choice("commune", N_("Commune level (commune, ward, special zone)")),
    Choice("district", N_("District level (before 1/7/2025)")),
    Choice("province", N_("Province level")),
)


def dialogue_command(ctx: Ctx, _args: str) -> None:
    unit = registering_unit(ctx)  # the secretary or deputy of a base unit
    if unit is None:
        ctx.say(N_("Dialogue reports are sent by the secretary or deputy secretary of a base unit (Đoàn cơ sở)."))
        return
    ctx.say(
        N_(
            "Dialogue report for {unit}: who took part, the opinions and recommendations of members and young people, and what the leaders committed to resolve."
        ),
        unit=unit.name,
    )
    ctx.engine.runner.start(
        ctx, DIALOGUE.name, context={"unit": unit.id}, answers=hidden_answers(ctx, unit, ReportKind.dialogue)
    )


def _leader_titles(ctx: Ctx, answers: Answers) -> list[str]:
    """The usual titles at the level answered, one tap away; anything else can be typed."""
    unit = ctx.uow.units.get(answers["_unit"]) if answers.get("_unit") else None
    return leader_titles(ctx.uow, unit, answers.get("level") or "commune")


def _promised(item: Answers) -> bool:
    return bool(item.get("promised"))


def _submit(ctx: Ctx, answers: Answers) -> None:
    saved = save_report(ctx, ReportKind.dialogue, answers)
    if saved is None:
        return  # refused, and said why
    report_id, version, data, held_on = saved
    unit_id = answers["_ctx"]["unit"]
    before = ctx.uow.reports.commitments(report_id)
    ctx.uow.reports.drop_open_commitments(report_id)  # an edit states its promises afresh
    followed = {c.promise for c in ctx.uow.reports.commitments(report_id)}  # answered ones stay as they are
    commitments = [q for q in data["questions"] if q.get("promised")]
    for gone in {c.promise: c for c in before if c.promise not in {q["promise"] for q in commitments}}.values():
        ctx.uow.reminders.met(commitment_key(gone), ctx.now)  # no longer promised: not chased
    for question in (q for q in commitments if q["promise"] not in followed):
        due = date.fromisoformat(question["due"]) if question.get("due") else None
        ctx.uow.reports.add_commitment(
            report_id=report_id,
            unit_id=unit_id,
            promise=question["promise"],
            promised_by=question["promised_by"],
            due_on=due,
            now=ctx.now,
        )
    ctx.say(
        N_(
            "Thank you! The dialogue of {date} is reported: {leaders} leader(s), {questions} question(s), {commitments} commitment(s) to follow up."
        ),
        date=format_date(held_on),
        leaders=len(data["leaders"]),
        questions=len(data["questions"]),
        commitments=len(commitments),
    )
    _tell_reviewers(ctx, ctx.uow.units.one(unit_id), report_id, version, held_on, data, len(commitments))


def _tell_reviewers(
    ctx: Ctx, unit: Row, report_id: int, version: int, held_on: date, data: Answers, commitments: int
) -> None:
    """The reviewing unit's staff are told of each dialogue (a unit holds one or two a year), with a
    button that opens the report (handlers/units.py). A branch's monthly meeting is not announced:
    dozens a month would drown the notices that matter; /xem shows them."""
    reviewer = ctx.uow.units.reviewer(unit)
    for staff in ctx.uow.roles.holders(reviewer.id, Role.district_staff) if reviewer else []:
        ctx.notify(
            staff.account_id,
            N_(
                "{unit} reported the dialogue of {date} (version {version}): {questions} question(s), {commitments} commitment(s) to follow up."
            ),
            buttons=[[(VIEW, f"un:r:{report_id}")]],
            unit=unit.name,
            date=format_date(held_on),
            version=version,
            questions=len(data["questions"]),
            commitments=commitments,
        )


DIALOGUE = Journey(
    name="dialogue",
    title=N_("Dialogue report"),
    steps=(
        *date_steps(N_("When was the dialogue? (day/month/year, or “today”, “yesterday”)")),
        Step(
            "level",
            N_("At which level?"),
            kind=Kind.choice,
            label=N_("Level"),
            choices=LEVELS,
        ),
        Step(
            "leaders",
            N_("Leaders"),
            kind=Kind.repeat,
            label=N_("Leaders present"),
            more_prompt=N_("Add another leader?"),
            steps=(
                Step("name", N_("Name of a leader who took part?"), kind=Kind.name, label=N_("Name"), max_len=120),
                Step(
                    "title",
                    N_("Their title? Press one or type it."),
                    label=N_("Title"),
                    min_len=3,
                    max_len=200,
                    suggest=_leader_titles,
                ),
            ),
        ),
        Step(
            "participants",
            N_("How many members and young people took part?"),
            kind=Kind.number,
            minimum=1,
            maximum=100000,
            label=N_("Taking part"),
        ),
        Step(
            "questions",
            N_("Questions"),
            kind=Kind.repeat,
            label=N_("Questions raised"),
            more_prompt=N_("Add another question?"),
            steps=(
                Step(
                    "question", N_("A question or wish members raised?"), label=N_("Question"), min_len=3, max_len=3000
                ),
                Step(
                    "answer",
                    N_("What did the leaders answer? (optional)"),
                    label=N_("Answer"),
                    required=False,
                    max_len=3000,
                ),
                Step(
                    "promised",
                    N_("Did a leader take it up and commit to resolving it?"),
                    kind=Kind.yes_no,
                    label=N_("Committed"),
                ),
                Step(
                    "promise",
                    N_("What did the leaders commit to?"),
                    label=N_("Commitment"),
                    min_len=3,
                    max_len=3000,
                    when=_promised,
                ),
                Step(
                    "promised_by",
                    N_("Who made the commitment? (full name and title)"),
                    label=N_("Committed by"),
                    min_len=2,
                    max_len=200,
                    when=_promised,
                ),
                Step(
                    "due",
                    N_("By when? Type day/month/year; if the leader gave no date, press “Skip”."),
                    kind=Kind.date,
                    label=N_("Due"),
                    required=False,
                    when=_promised,
                ),
            ),
        ),
    ),
    complete=_submit,
    submit_label=N_("✅ Send the report"),
)
