"""Personal data (Law 91/2025/QH15): the notice and its consent, and `/dulieu` (`/mydata`) to see,
export or erase what is held.

The notice is shown before anything personal is asked: a newcomer's invite code is answered with
it, and the name and position are asked only after "Đồng ý". A refusal stops there: the invite
stays unused (sending it again shows the notice again), the account keeps only its chat identity
(without the app's display name) and the refusal itself (time, notice version), which is what
stops the notice being asked again of someone who already joined. Someone who joined before the
notice existed is shown it once, at their next command or message with no journey open (never in
the middle of one); what they sent is then handled as soon as they answer, whatever the answer.

Erasure removes the personal details (storage/privacy.py) and keeps the unit's records: the
reports and plans the person filed stay, their filer shown as "(đã xóa)".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from chidoan.engine.context import Ctx
from chidoan.engine.jobs import JobContext
from chidoan.engine.messages import Button
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.handlers.link import channel_label
from chidoan.i18n import N_, gettext
from chidoan.storage.models import ConsentAnswer, PrivacyActionKind, Role

NOTICE_VERSION = "2026-01"  # bump when the notice's content changes: everyone is asked again
ERASED_NAME = N_("(erased)")  # the name an erased account's reports are shown with
DATA_EXPORT = "data_export"  # the job's kind, and the stored document's

NOTICE = N_(
    "About personal data (Law 91/2025/QH15 on personal data protection):\n"
    "• What is kept: your full name and position, your accounts in the chat apps (user and chat ids), "
    "the plans and reports you file, and the photos you send (attendance sheets also show other members' names).\n"
    "• Why: to bind you to your unit and to file its Youth Union paperwork and have it reviewed.\n"
    "• Who sees it: your unit and the union above it that reviews it; {controller} is responsible for it.\n"
    "• How long: the messages you send are kept {events} days, the messages sent to you {messages} days "
    "(of a reminder or a follow-up question, only the mark that it was sent stays after that, so it is not sent twice); "
    "an unfinished draft {drafts} days after its last change, with the photos sent in it; "
    "the copy /dulieu sends you {exports} days; plans and reports stay with the unit as its records.\n"
    "• /dulieu shows what is held about you, sends you a copy or erases it, at any time.\n"
    "Do you agree?"
)
CONTROLLER = N_("the Youth Union organisation operating this bot")
AGREE = N_("Agree")
DISAGREE = N_("Do not agree")


def notice(ctx: Ctx, context: str) -> None:
    """The notice with its two answers; `context` says what waits for the answer: "i<invite id>"
    (joining), "e<event id>" (a message held back), "" (asked from /dulieu)."""
    ctx.say(
        NOTICE,
        controller=ctx.settings.data_controller or ctx.t(CONTROLLER),
        drafts=ctx.settings.keep_drafts_days,
        exports=ctx.settings.keep_exports_days,
        events=ctx.settings.keep_events_days,
        messages=ctx.settings.keep_messages_days,
        buttons=[[Button(ctx.t(AGREE), f"cs:y:{context}"), Button(ctx.t(DISAGREE), f"cs:n:{context}")]],
    )


def _consent(ctx: Ctx) -> str | None:
    return ctx.uow.accounts.one(ctx.account_id).consent


def ask_before_joining(ctx: Ctx, invite_id: int) -> bool:
    """True when the notice was shown instead of going on with the invite: nothing is asked
    before the person agrees."""
    if not ctx.settings.ask_consent or _consent(ctx) == ConsentAnswer.given:
        return False
    notice(ctx, f"i{invite_id}")
    return True


def ask_once(ctx: Ctx) -> bool:
    """Someone who joined before the notice existed (it has not been answered), at a command or
    a message with no journey open: shown the notice once instead; what they sent waits for
    the answer (True)."""
    if (
        not ctx.settings.ask_consent
        or ctx.sender.consent is not None
        or not ctx.registered
        or ctx.event_row is None
        or ctx.uow.privacy.was_asked(ctx.account_id)
    ):
        return False
    ctx.uow.privacy.record(
        ctx.account_id, PrivacyActionKind.asked, source="chat", now=ctx.now, notice_version=NOTICE_VERSION
    )
    notice(ctx, f"e{ctx.event_row}")
    return True


def consent_action(ctx: Ctx, arg: str) -> None:
    """`cs:y:<context>` / `cs:n:<context>`: the answer to the notice, recorded (time, version)."""
    answer, _, context = arg.partition(":")
    agreed = answer == "y"
    ctx.uow.privacy.answer(
        ctx.account_id,
        ConsentAnswer.given if agreed else ConsentAnswer.refused,
        NOTICE_VERSION,
        source="chat",
        now=ctx.now,
    )
    kind, ident = context[:1], context[1:]
    if kind == "i" and ident.isdigit():
        invite = ctx.uow.invites.get(int(ident))
        if not agreed:
            if ctx.sender.display_name:
                ctx.uow.accounts.touch_identity(ctx.sender.identity_id, chat_id=ctx.sender.chat_id, display_name=None)
            ctx.say(
                N_(
                    "Understood: you have not joined, and nothing about you is kept beyond this chat and your answer. If you change your mind, send the invite code again."
                )
            )
            return
        ctx.say(N_("Thank you. Your consent has been recorded."))
        if invite is not None:
            ctx.engine.handle_again(ctx, invite.code)  # the code sent before the notice, now agreed to
        return
    if agreed:
        ctx.say(N_("Thank you. Your consent has been recorded."))
    else:
        ctx.say(
            N_(
                "Your answer has been recorded. Your details are kept only for your unit's work; to have them erased, use /dulieu."
            )
        )
    if kind == "e" and ident.isdigit():
        held = ctx.uow.events.text_of(int(ident), ctx.account_id)
        if held:
            ctx.engine.handle_again(ctx, held)


def data_command(ctx: Ctx, _args: str) -> None:
    held = ctx.uow.privacy.holdings(ctx.account_id, ctx.now)
    account = held["account"]
    none = ctx.t(N_("(not given yet)"))
    lines = [
        ctx.t(N_("What chidoan holds about you:")),
        ctx.t(N_("Name: {name}"), name=account["full_name"] or none),
        ctx.t(N_("Position: {position}"), position=account["position"] or none),
    ]
    for identity in held["identities"]:
        lines.append(
            ctx.t(
                N_("Account in {app}: {user} (name there: {name})"),
                app=channel_label(ctx, identity["app"]),
                user=identity["user_id"],
                name=identity["display_name"] or "-",
            )
        )
    for role in held["roles"]:
        if role["revoked_at"] is None:
            lines.append(
                ctx.t(N_("Role: {role} of {unit}"), role=ctx.t(ROLE_LABELS[Role(role["role"])]), unit=role["unit"])
            )
    filed = held["reports_filed"]
    lines += [
        ctx.t(
            N_("Filed: {meetings} meeting report(s), {dialogues} dialogue report(s), {plans} plan version(s)"),
            meetings=filed.get("meeting", 0),
            dialogues=filed.get("dialogue", 0),
            plans=held["plan_versions_submitted"],
        ),
        ctx.t(N_("Unfinished drafts: {n}"), n=len(held["open_drafts"])),
        ctx.t(N_("Invite codes you issued, not used yet: {n}"), n=len(held["pending_invites"])),
        ctx.t(
            N_("Messages you sent, kept {days} days: {n}"),
            days=ctx.settings.keep_events_days,
            n=len(held["messages_received"]),
        ),
        _consent_line(ctx, account),
    ]
    buttons = [[Button(ctx.t(N_("📤 Send me a copy")), "dd:export"), Button(ctx.t(N_("🗑 Erase my data")), "dd:erase")]]
    if account["consent"] != ConsentAnswer.given:
        buttons.append([Button(ctx.t(N_("The notice, to agree")), "dd:notice")])
    ctx.say_text("\n".join(lines), buttons=buttons)


def _consent_line(ctx: Ctx, account: Mapping) -> str:
    if account["consent"] is None:
        return ctx.t(N_("Consent to the personal data notice: not answered yet"))
    at = datetime.fromisoformat(account["consent_at"]).astimezone(ctx.tz).strftime("%d/%m/%Y %H:%M")
    if account["consent"] == ConsentAnswer.given:
        return ctx.t(
            N_("Consent to the personal data notice: given on {at} (version {v})"), at=at, v=account["consent_version"]
        )
    return ctx.t(
        N_("Consent to the personal data notice: refused on {at} (version {v})"), at=at, v=account["consent_version"]
    )


def data_action(ctx: Ctx, arg: str) -> None:
    if arg == "export":
        if ctx.later(DATA_EXPORT):
            ctx.say(N_("Preparing a copy of your data; it comes as a file in a moment."))
    elif arg == "notice":
        notice(ctx, "")
    elif arg == "erase":
        ctx.say(
            N_(
                "Erasing removes your name and position, your accounts in the chat apps here, your unfinished drafts and the text of your messages, and ends your roles (to come back you would need a new invite code). The plans and reports you filed stay with your unit, shown as filed by “{erased}”. This cannot be undone. Erase?"
            ),
            erased=gettext(ctx.settings.default_locale, ERASED_NAME),
            buttons=[[Button(ctx.t(N_("🗑 Erase")), "dd:erase!"), Button(ctx.t(N_("Keep my data")), "dd:keep")]],
        )
    elif arg == "erase!":
        ctx.uow.privacy.erase(
            ctx.account_id,
            pseudonym=gettext(ctx.settings.default_locale, ERASED_NAME),
            source="chat",
            now=ctx.now,
            exports_of=export_filename(ctx.account_id),
        )
        ctx.forget_me = True
        ctx.say(N_("Your personal data has been erased. Thank you for your work with the Youth Union."))
    elif arg == "keep":
        ctx.say(N_("Nothing was erased."))
    else:
        ctx.say(N_("That button is no longer valid."))


def export_filename(account_id: int) -> str:
    return f"chidoan-data-{account_id}.json"


def export_json(held: dict) -> bytes:
    return json.dumps(held, ensure_ascii=False, indent=2, default=str).encode()


async def data_export(job: JobContext) -> None:
    account_id = job.job.account_id

    def read(uow) -> dict:
        held = uow.privacy.holdings(account_id, job.now)
        uow.privacy.record(account_id, PrivacyActionKind.exported, source="chat", now=job.now)
        return held

    held = await job.read(read)
    content = await job.render(export_json, held)
    await job.reply_file(
        content,
        export_filename(account_id),
        N_("A copy of the data chidoan holds about you."),
        kind=DATA_EXPORT,
    )
