"""The words of a reminder, in its reader's language: what is due, by when, what is missing,
and the buttons that start the right journey or put the reminder off for a day."""

from __future__ import annotations

from datetime import date
from functools import cache

from chidoan.engine.messages import Button, Outgoing
from chidoan.i18n import N_, format_date, gettext
from chidoan.reminders.obligations import Obligation

WHAT = {
    "plan": N_("the {programme} plan for {period}"),
    "meeting": N_("the report of the branch meeting of {period}"),
    "dialogue": N_("the report of a dialogue with local leaders in {period}"),
}
MISSING = {
    "plan": N_("It has not been submitted yet."),
    "plan_draft": N_("A draft is started but has not been sent."),
    "meeting": N_("No meeting held in {period} has been reported."),
    "dialogue": N_("No dialogue held in {period} has been reported."),
}
MESSAGES = {
    "opening": N_("📅 {unit}: {what} is due before {due}. It can be done now: tap the button below."),
    "before": N_("⏰ Reminder for {unit}: {what} is due before {due}, {days} days from now. {missing}"),
    "last_day": N_("⏰ {unit}: today is the last day for {what} (due before {due}). {missing}"),
    "overdue": N_("❗ {unit}: {what} was due before {due}; it is late by {days} day(s). {missing} Please send it now."),
}
COMMITMENT = N_(
    "❗ The follow-up of the commitment “{promise}” ({by}, due {due}) from the dialogue of {unit} has not been answered yet. Was it done?"
)
START = {
    "plan": (N_("📝 Register the plan"), "rm:go:plan"),
    "meeting": (N_("📝 Report a meeting"), "rm:go:meeting"),
    "dialogue": (N_("📝 Report a dialogue"), "rm:go:dialogue"),
}
LATER = N_("⏰ Remind me tomorrow")


def period_text(obligation: Obligation) -> str:
    if obligation.kind == "meeting":
        year, month = obligation.period.split("-")
        return f"{month}/{year}"
    return obligation.period


def reminder_message(obligation: Obligation, message: str, today: date, locale: str) -> Outgoing:
    """The reminder of `obligation` in `locale`, as the stage's `message` words it."""
    if obligation.kind == "commitment":
        return _commitment(obligation, locale)
    period = period_text(obligation)
    programme = obligation.programme.short_name if obligation.programme else ""
    text = gettext(
        locale,
        MESSAGES[message],
        unit=obligation.unit.name,
        what=_what(locale, obligation.kind, programme, period),
        due=format_date(obligation.due),
        days=abs((obligation.due - today).days) + (0 if today < obligation.due else 1),
        missing=_missing(locale, "plan_draft" if obligation.draft else obligation.kind, period),
    )
    label, payload = START[obligation.kind]
    if obligation.kind == "plan":
        payload += f":{obligation.period}"  # the plan of that year, not a question which
    buttons = [[Button(_label(locale, label), payload)], [Button(_label(locale, LATER), f"rm:later:{obligation.key}")]]
    return Outgoing(text, buttons).with_hint(locale)


# A sweep words thousands of reminders that differ only in the unit: the rest is looked up once.
@cache
def _what(locale: str, kind: str, programme: str, period: str) -> str:
    return gettext(locale, WHAT[kind], programme=programme, period=period)


@cache
def _missing(locale: str, key: str, period: str) -> str:
    return gettext(locale, MISSING[key], period=period)


@cache
def _label(locale: str, msgid: str) -> str:
    return gettext(locale, msgid)


def _commitment(obligation: Obligation, locale: str) -> Outgoing:
    # The follow-up's own buttons (handlers/commitments.py): one tap answers it.
    from chidoan.handlers.commitments import ANSWERS

    c = obligation.commitment
    assert c is not None
    text = gettext(
        locale,
        COMMITMENT,
        promise=c.promise,
        by=c.promised_by,
        due=format_date(c.due_on),
        unit=obligation.unit.name,
    )
    buttons = [[Button(gettext(locale, label), f"cm:{c.id}:{status}") for status, label in ANSWERS.items()]]
    buttons.append([Button(gettext(locale, LATER), f"rm:later:{obligation.key}")])
    return Outgoing(text, buttons).with_hint(locale)
