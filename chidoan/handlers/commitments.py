"""Following up what leaders promised in a dialogue: on a commitment's due date the unit's
secretary is asked whether it was done (done / in progress / not done) and may add a note; the
answer is stored on the commitment, for the district to see."""

from __future__ import annotations

from datetime import date, datetime

from chidoan.engine.context import Ctx, Notice
from chidoan.engine.dispatch import queue_notice
from chidoan.engine.inputs import parse_id
from chidoan.engine.journey import Answers, Journey, Step
from chidoan.engine.messages import BUTTON_GONE
from chidoan.engine.notices import Window
from chidoan.handlers.access import BASE_UNIT, acting_unit, still_acting
from chidoan.i18n import N_, format_date
from chidoan.reminders.obligations import commitment_key
from chidoan.storage.models import CommitmentStatus, Role
from chidoan.storage.uow import UnitOfWork

FOLLOW_UP = N_("Follow-up of the dialogue of {date}: {by} committed to “{promise}”, due {due}. Has it been done?")
ANSWERS = {
    CommitmentStatus.done: N_("Done"),
    CommitmentStatus.in_progress: N_("In progress"),
    CommitmentStatus.not_done: N_("Not done"),
}


CHUNK = 500  # commitments a round of set queries reads (four statements, and a few per question asked)


def ask_due(uow: UnitOfWork, now: datetime, tz, window: Window | None = None) -> int:
    """Ask about every commitment whose day has come; each person is asked once per commitment
    (the outbox's unique key), however often and on however many workers this runs, on however
    many channels they have: on one, as every notice is sent (`queue_notice`, the path of
    `ctx.notify`). A question nobody can take now (outside Zalo's window, no other channel) is
    stored held and counts as asked: it goes when the person writes again.

    It runs daily over every overdue commitment still open, most asked about already: so in
    chunks of CHUNK, each read with a few set queries (their reports, the units' secretaries,
    who was asked), not a few queries per commitment."""
    window = window or Window()
    today = now.astimezone(tz).date()
    asked = 0
    after: tuple[date, int] | None = None
    while chunk := uow.reports.due_commitments(today, after=after, limit=CHUNK):
        asked += _ask_chunk(uow, chunk, now, window)
        after = (chunk[-1].due_on, chunk[-1].id)
        if len(chunk) < CHUNK:
            break
    return asked


def _ask_chunk(uow: UnitOfWork, chunk: list, now: datetime, window: Window) -> int:
    reports = uow.reports.by_ids({c.report_id for c in chunk})
    secretaries = uow.roles.holders_of({c.unit_id for c in chunk}, Role.secretary)
    recipients = {
        c.id: list(dict.fromkeys(secretaries.get(c.unit_id) or [reports[c.report_id].created_by])) for c in chunk
    }
    # Keys were per identity before (commitment:<id>:<identity id>): one asked so is asked
    # already. The key is the person's, so linking another app does not ask again.
    done = uow.outbox.keyed_ids("commitment:", {a for accounts in recipients.values() for a in accounts})
    asked = 0
    for commitment in chunk:
        report = reports[commitment.report_id]
        buttons = [[(label, f"cm:{commitment.id}:{status}") for status, label in ANSWERS.items()]]
        for account_id in recipients[commitment.id]:
            if (commitment.id, account_id) in done:
                continue
            notice = Notice(
                account_id,
                FOLLOW_UP,
                {
                    "date": format_date(report.held_on),
                    "by": commitment.promised_by,
                    "promise": commitment.promise,
                    "due": format_date(commitment.due_on),
                },
                buttons,
            )
            asked += queue_notice(uow, notice, now, window, once=f"commitment:{commitment.id}:account:{account_id}")
    return asked


def commitment_action(ctx: Ctx, arg: str) -> None:
    """Buttons "cm:<commitment id>:<status>": only the unit's own secretary or deputy answers."""
    ident, _, status = arg.partition(":")
    commitment = ctx.uow.reports.commitment(found) if (found := parse_id(ident)) else None
    unit = acting_unit(ctx, kinds=BASE_UNIT, unit_id=commitment.unit_id) if commitment else None
    if commitment is None or unit is None or status not in ANSWERS:
        ctx.say(BUTTON_GONE)
        return
    ctx.uow.reports.follow_up(commitment.id, status=status, now=ctx.now)
    ctx.uow.reminders.met(commitment_key(commitment), ctx.now)
    ctx.say(N_("Recorded: {answer}."), answer=ctx.t(ANSWERS[CommitmentStatus(status)]))
    ctx.engine.runner.start(ctx, NOTE.name, context={"commitment": commitment.id})


def _save_note(ctx: Ctx, answers: Answers) -> None:
    commitment = ctx.uow.reports.one_commitment(answers["_ctx"]["commitment"])
    if still_acting(ctx, commitment.unit_id, kinds=BASE_UNIT) is None:
        return
    if answers.get("note"):
        ctx.uow.reports.follow_up(commitment.id, note=answers["note"], now=ctx.now)
    ctx.say(N_("Thank you, the follow-up is saved."))


NOTE = Journey(
    name="commitment_note",
    title=N_("Follow-up note"),
    steps=(
        Step("note", N_("A short note on how it went? (optional)"), label=N_("Note"), required=False, max_len=2000),
    ),
    complete=_save_note,
    submit_label=N_("✅ Save"),
)
