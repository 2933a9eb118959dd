"""Personal data (Law 91/2025/QH15): the notice and its consent, and `/dulieu` (`/mydata`) to see,
export or erase what is held.

The notice is shown before anything personal is asked: a newcomer's invite code is answered with
it, and the name and position are asked only after "Đồng ý". A refusal stops there: the invite
stays unused (sending it again shows the notice again), the account keeps only its chat identity
(without the app's display name) and the refusal itself (time, notice version), which is what
stops the notice being asked again of someone who already joined. Someone who joined before the
notice existed is shown it at their next command or message with no journey open (never in the
middle of one), and again until they answer; what they asked for is then handled, whatever the
answer.

Each showing is recorded (privacy_action `asked`, with what waits for the answer) and its
buttons name that row: a press counts only for a notice this account was shown and has not
answered since, so a forged button cannot use an invite whose code the person never sent, and a
stale one (pressed after joining) changes nothing. /dulieu's buttons are tied the same way: the
menu's to the account it was shown to, the erasure's confirmation to its question (privacy_action
`erase_asked`), so an old button pressed after an erasure, by the new account the same chat now
belongs to, erases and exports nothing.

Erasure removes the personal details (storage/privacy.py) and keeps the unit's records: the
reports and plans the person filed stay, their filer shown as "(đã xóa)".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from chidoan.engine.commands import parse_command
from chidoan.engine.context import Ctx
from chidoan.engine.inputs import parse_id
from chidoan.engine.jobs import JobContext
from chidoan.engine.messages import BUTTON_GONE, Button, clean_text
from chidoan.engine.typed import match
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.handlers.link import channel_label
from chidoan.i18n import N_, gettext
from chidoan.storage.invites import looks_like_code
from chidoan.storage.models import ConsentAnswer, PrivacyActionKind, Role

NOTICE_VERSION = "2026-01"  # bump when the notice's content changes: everyone is asked again
ERASED_NAME = N_("(erased)")  # the name an erased account's reports are shown with
DATA_EXPORT = "data_export"  # the job's kind, and the stored document's
# Zalo OA uploads no JSON and the Zalo Bot no file at all: there the copy is only a download link,
# made only with CHIDOAN_PUBLIC_URL (bot/downloads.py).
LINK_ONLY_CHANNELS = frozenset({"zalo", "zalo_bot"})

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


HELD_MESSAGE = N_(
    "Before “{message}”, please answer the notice below: your message is kept and handled as soon as you answer."
)
HELD_INVITE = N_("Please answer the notice below first: the invite code you sent is kept until you answer.")
ANSWER_FIRST = N_("Please answer the notice below before going on.")
THANKS = N_("Thank you. Your consent has been recorded.")
_QUOTED = 60  # of a held message, quoted in the line before the notice


def notice(ctx: Ctx, asked: int) -> None:
    """The notice with its two answers, whose buttons answer this showing of it (the `asked`
    row) and nothing else."""
    ctx.say(
        NOTICE,
        controller=ctx.settings.data_controller or ctx.t(CONTROLLER),
        drafts=ctx.settings.keep_drafts_days,
        exports=ctx.settings.keep_exports_days,
        events=ctx.settings.keep_events_days,
        messages=ctx.settings.keep_messages_days,
        buttons=_answers(ctx, asked),
    )


def _answers(ctx: Ctx, asked: int) -> list[list[Button]]:
    return [[Button(ctx.t(AGREE), f"cs:y:{asked}"), Button(ctx.t(DISAGREE), f"cs:n:{asked}")]]


def _ask(ctx: Ctx, waiting: dict[str, int]) -> int:
    """The notice about to be shown, recorded: `waiting` is what its answer lets go on, an invite
    ({"invite": id}) or a message held back ({"event": id}); a press is checked against it."""
    return ctx.uow.privacy.record(
        ctx.account_id,
        PrivacyActionKind.asked,
        source="chat",
        now=ctx.now,
        notice_version=NOTICE_VERSION,
        detail=waiting,
    )


def _runnable(text: str | None) -> bool:
    """Whether a held message is something to do once the notice is answered (`handle_again`)."""
    return text is not None and (parse_command(text) is not None or looks_like_code(text))


def _what_waits(ctx: Ctx, waiting: Mapping) -> None:
    """Said just before the notice shown at a message: what is kept until it is answered."""
    if "invite" in waiting:
        ctx.say(HELD_INVITE)
        return
    held = ctx.uow.events.text_of(waiting["event"], ctx.account_id) if "event" in waiting else None
    if held and _runnable(held):
        ctx.say(HELD_MESSAGE, message=held[:_QUOTED])
    else:
        ctx.say(ANSWER_FIRST)


def _consent(ctx: Ctx) -> str | None:
    return ctx.uow.accounts.one(ctx.account_id).consent


def ask_before_joining(ctx: Ctx, invite_id: int) -> bool:
    """True when the notice was shown instead of going on with the invite: nothing is asked
    before the person agrees. Only someone who sent the invite's code gets here, so only they
    can answer for it (`consent_action`)."""
    if not ctx.settings.ask_consent or _consent(ctx) == ConsentAnswer.given:
        return False
    notice(ctx, _ask(ctx, {"invite": invite_id}))
    return True


def notice_first(ctx: Ctx) -> bool:
    """At a command or a message with no journey open, while the notice waits for an answer:
    answered instead (True), so nothing the person sends is lost. Someone who joined before the
    notice existed is shown it until they answer; a command or an invite code they send is held
    and handled as soon as they do (the latest one), other text shows the notice again. At a
    newcomer's notice (shown for their invite code) text shows it again too; a command or another
    code goes on as usual. The notice's answers typed ("dong y", "1") answer it even when another
    message came in between."""
    if not ctx.settings.ask_consent or ctx.event_row is None or ctx.sender.consent == ConsentAnswer.given:
        return False  # agreed: no notice waits (it is shown only to those who have not)
    shown = ctx.uow.privacy.unanswered(ctx.account_id)
    text = clean_text(ctx.incoming.text) or ""
    if shown is not None:
        typed = match({"buttons": [[[b.label, b.payload] for b in row] for row in _answers(ctx, shown.id)]}, text)
        if typed is not None and typed.payload is not None:
            consent_action(ctx, typed.payload.partition(":")[2])
            return True
    runnable = _runnable(text)
    if ctx.registered and ctx.sender.consent is None and (runnable or shown is None):
        waiting = {"event": ctx.event_row}
        _what_waits(ctx, waiting)
        notice(ctx, _ask(ctx, waiting))
        return True
    if shown is not None and not runnable:
        _what_waits(ctx, shown.detail)
        notice(ctx, shown.id)
        return True
    return False


def consent_action(ctx: Ctx, arg: str) -> None:
    """`cs:y:<asked>` / `cs:n:<asked>`: the answer to one showing of the notice, recorded (time,
    version), then what waited for it goes on. A button of a notice this account was never shown
    (forged, another's) or has answered since (stale: pressed after joining) does nothing."""
    answer, _, asked = arg.partition(":")
    asked_id = parse_id(asked)
    shown = ctx.uow.privacy.unanswered(ctx.account_id, asked_id) if asked_id and answer in ("y", "n") else None
    if shown is None:
        ctx.say(BUTTON_GONE)
        return
    agreed = answer == "y"
    ctx.uow.privacy.answer(
        ctx.account_id,
        ConsentAnswer.given if agreed else ConsentAnswer.refused,
        NOTICE_VERSION,
        source="chat",
        now=ctx.now,
    )
    waiting = shown.detail
    if "invite" in waiting and not agreed and not ctx.registered:
        if ctx.sender.display_name:
            ctx.uow.accounts.touch_identity(ctx.sender.identity_id, chat_id=ctx.sender.chat_id, display_name=None)
        ctx.say(
            N_(
                "Understood: you have not joined, and nothing about you is kept beyond this chat and your answer. If you change your mind, send the invite code again."
            )
        )
        return
    if agreed:
        ctx.say(THANKS)
    else:
        ctx.say(
            N_(
                "Your answer has been recorded. Your details are kept only for your unit's work; to have them erased, use /dulieu."
            )
        )
    if "invite" in waiting:
        invite = ctx.uow.invites.get(waiting["invite"])
        if agreed and invite is not None:
            ctx.engine.handle_again(ctx, invite.code)  # the code they sent, checked again now agreed to
    elif "event" in waiting:
        held = ctx.uow.events.text_of(waiting["event"], ctx.account_id)
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
    mine = ctx.account_id  # the menu's buttons act only for the account it was shown to
    buttons = [
        [
            Button(ctx.t(N_("📤 Send me a copy")), f"dd:export:{mine}"),
            Button(ctx.t(N_("🗑 Erase my data")), f"dd:erase:{mine}"),
        ]
    ]
    if account["consent"] != ConsentAnswer.given:
        buttons.append([Button(ctx.t(N_("The notice, to agree")), f"dd:notice:{mine}")])
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
    """`dd:<action>:<id>`. The menu's buttons (export, erase, notice) name the account /dulieu was
    shown to; the erasure's answers (erase!, keep) name the question's `erase_asked` row, and count
    only while it is this account's latest and unanswered. Any other press (an old button after an
    erasure, which a new account now receives; another's; a forged one) does nothing."""
    action, _, named = arg.partition(":")
    named_id = parse_id(named)
    if action in ("export", "erase", "notice") and named_id == ctx.account_id:
        _menu_action(ctx, action)
    elif action in ("erase!", "keep") and ctx.uow.privacy.open_erase_question(ctx.account_id, named_id):
        _erase_answer(ctx, erase=action == "erase!")
    else:
        ctx.say(BUTTON_GONE)


def _menu_action(ctx: Ctx, action: str) -> None:
    if action == "export":
        if ctx.incoming.channel in LINK_ONLY_CHANNELS and not ctx.settings.public_url:
            _undeliverable_copy(ctx)
        elif ctx.later(DATA_EXPORT):
            ctx.say(N_("Preparing a copy of your data; it comes as a file in a moment."))
    elif action == "notice":
        notice(ctx, _ask(ctx, {}))
    else:
        asked = ctx.uow.privacy.record(ctx.account_id, PrivacyActionKind.erase_asked, source="chat", now=ctx.now)
        ctx.say(
            N_(
                "Erasing removes your name and position, your accounts in the chat apps here, your unfinished drafts and the text of your messages, and ends your roles (to come back you would need a new invite code). The plans and reports you filed stay with your unit, shown as filed by “{erased}”. This cannot be undone. Erase?"
            ),
            erased=gettext(ctx.settings.default_locale, ERASED_NAME),
            buttons=[
                [
                    Button(ctx.t(N_("🗑 Erase")), f"dd:erase!:{asked}"),
                    Button(ctx.t(N_("Keep my data")), f"dd:keep:{asked}"),
                ]
            ],
        )


def _undeliverable_copy(ctx: Ctx) -> None:
    """A copy this chat cannot receive is not made (no file of it is kept) and not recorded as
    exported: the trail records the request as not delivered (`export_failed`), so the operator
    sees a request still to answer (`chidoan data export`), and the person is told how to get it."""
    ctx.uow.privacy.record(
        ctx.account_id,
        PrivacyActionKind.export_failed,
        source="chat",
        now=ctx.now,
        detail={"channel": ctx.incoming.channel, "why": "no CHIDOAN_PUBLIC_URL"},
    )
    ctx.say(
        N_(
            "Zalo cannot carry the copy of your data as a file, and no download address is set up for this service, so nothing was sent. Please tell the administrator, who can send you the copy; or send /dulieu on Telegram or in the web chat to get it there as a file."
        )
    )


def _erase_answer(ctx: Ctx, *, erase: bool) -> None:
    if not erase:
        ctx.uow.privacy.record(ctx.account_id, PrivacyActionKind.erase_kept, source="chat", now=ctx.now)
        ctx.say(N_("Nothing was erased."))
        return
    ctx.uow.privacy.erase(
        ctx.account_id,
        pseudonym=gettext(ctx.settings.default_locale, ERASED_NAME),
        source="chat",
        now=ctx.now,
        exports_of=export_filename(ctx.account_id),
    )
    ctx.forget_me = True
    ctx.say(N_("Your personal data has been erased. Thank you for your work with the Youth Union."))


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
