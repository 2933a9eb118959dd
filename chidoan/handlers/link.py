"""One person, one account across channels: /lienket gives a one-time code; typed on another app
(Telegram, Zalo, the web chat), it asks the code's owner, in the app where it was made, to allow
the link; the owner's Allow binds that app to the same account. The app that typed it hears
nothing of the owner (not even whether a code exists) until the owner allowed.

Roles of both accounts are kept (merged); when both have an unfinished report or plan, the
owner is asked which one to keep (the newer one first). Notices go to the app the person used
last, unless they choose one here.
"""

from __future__ import annotations

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.dispatch import notice_row, outbox_row
from chidoan.engine.inputs import parse_id
from chidoan.engine.messages import BUTTON_GONE, Button, Outgoing, Typed
from chidoan.engine.notices import route
from chidoan.engine.typed import remember
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import N_, gettext
from chidoan.storage.links import (
    GLOBAL_MAX_WRONG,
    GLOBAL_WINDOW,
    LIFETIME,
    MAX_WRONG,
    draft_of,
    looks_like_link_code,
    merge_accounts,
)
from chidoan.storage.models import Role

# Every channel's name for a person (tests/test_link.py checks each channel has one). Both Zalo
# channels open in the Zalo app, but they are two chats a person may link: the Official Account
# is "Zalo", the pilot's bot "Zalo Bot", the name Zalo itself gives it.
CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "zalo_bot": "Zalo Bot", "web": N_("web chat")}


def channel_label(ctx: Ctx, channel: str) -> str:
    return ctx.t(CHANNEL_LABELS[channel])


def _when(ctx: Ctx, moment) -> str:
    return moment.astimezone(ctx.tz).strftime("%d/%m/%Y %H:%M") if moment else "-"


def link_command(ctx: Ctx, args: str) -> None:
    """/lienket: a new code, the channels already linked and the choice of where notices go;
    /lienket CODE: the same as typing the code."""
    if args and looks_like_link_code(args):
        return link_code(ctx, args)
    code = ctx.uow.links.issue(ctx.account_id, ctx.sender.identity_id, ctx.now)
    ctx.say(
        N_(
            "Your link code is {code}. Within {minutes} minutes, send it to me from the other app (Telegram, Zalo or the web chat) to use the same account there. It works once."
        ),
        code=code,
        minutes=int(LIFETIME.total_seconds() // 60),
    )
    identities = ctx.uow.accounts.identities(ctx.account_id)
    if len(identities) < 2:
        return
    target = route(ctx.uow.accounts.notice_candidates(ctx.account_id), ctx.now, ctx.engine.window)
    chosen = any(i.preferred for i in identities)
    lines = [ctx.t(N_("Linked apps:"))]
    for identity in identities:
        line = ctx.t(
            N_("{channel}: last used {when}"),
            channel=channel_label(ctx, identity.channel),
            when=_when(ctx, identity.last_seen_at),
        )
        if target is not None and target.held is None and identity.id == target.identity_id:
            line += " — " + ctx.t(N_("notices go here") if not chosen else N_("notices go here (your choice)"))
        lines.append("• " + line)
    lines.append(ctx.t(N_("Where should notices go?")))
    buttons = [
        [Button(ctx.t(N_("🔔 {channel}"), channel=channel_label(ctx, i.channel)), f"lk:pref:{i.id}")]
        for i in identities
    ]
    buttons.append([Button(ctx.t(N_("🔔 The app I used last")), "lk:pref:0")])
    ctx.say_text("\n".join(lines), buttons=buttons)


# Every code that does not lead to an approval request gets this one answer, whatever the reason
# (mistyped, expired, used, or claimed by someone else): a guess learns nothing about a code.
NOT_WORKING = N_(
    "That link code does not work: it may be mistyped, expired or already used. Please check it, or make a new one with /lienket."
)
WAITING = N_(
    "Now please allow the link in the app where you made this code: it asks there. I will tell you here when it is done."
)
ANSWERED = N_("This link request was already answered or has expired. Make a new code with /lienket if needed.")


def link_code(ctx: Ctx, text: str) -> None:
    """A link code typed (on any channel, even in the middle of a report): the code's owner is
    asked, in the app where it was made, to allow the link. Nothing about the owner is said here."""
    links = ctx.uow.links
    locked_until = links.guard(ctx.now)  # every worker's link codes, one at a time from here on
    if locked_until is not None:
        ctx.say(
            N_(
                "Link codes are not accepted for a while, because too many wrong ones were typed. Please try again later."
            )
        )
        return
    if links.wrong_recently(ctx.account_id, ctx.now) >= MAX_WRONG:
        ctx.say(N_("Too many wrong link codes. Please wait an hour, then make a new code with /lienket."))
        return
    link = links.live(text, ctx.now)
    if link is not None and link.account_id == ctx.account_id:
        ctx.say(N_("This is your own link code. Send it from the other app you want to link."))
        return
    if link is not None and link.claimed_by == ctx.account_id:  # typed again while the owner decides
        ctx.say(WAITING)
        return
    if link is None or not links.claim(link.id, ctx.account_id, ctx.sender.identity_id, ctx.now):
        until = links.wrong(ctx.account_id, ctx.now)
        if until is not None:  # the global limit reached, by this code: told once
            for admin in ctx.uow.roles.accounts_holding(Role.admin):
                ctx.notify(
                    admin,
                    N_(
                        "Warning: {count} wrong link codes were typed within {minutes} minutes, across all accounts: someone may be guessing link codes to take over an account. All link codes are refused until {until}."
                    ),
                    count=GLOBAL_MAX_WRONG,
                    minutes=int(GLOBAL_WINDOW.total_seconds() // 60),
                    until=_when(ctx, until),
                )
        ctx.say(NOT_WORKING)
        return
    _ask_owner(ctx, link)
    ctx.say(WAITING)


def _ask_owner(ctx: Ctx, link: Row) -> None:
    """The request, in the app where the code was made (else where the owner's notices go), with
    Allow and Refuse; it becomes the owner's question, so typing "Allow" ("cho phép") there works
    too."""
    uow = ctx.uow
    owner = uow.accounts.one(link.account_id)
    locale = owner.locale
    message = Outgoing(
        gettext(
            locale,
            N_(
                "Someone on {channel} ({name}) wants to link to your account with your link code. Allow it only if it is you: afterwards that app leads to this account, with all its roles. If it is not you, refuse, and show your code to no one."
            ),
            channel=gettext(locale, CHANNEL_LABELS[ctx.incoming.channel]),
            name=ctx.sender.display_name or "-",
        ),
        [
            [
                Button(gettext(locale, N_("✅ Allow")), f"lk:allow:{link.id}"),
                Button(gettext(locale, N_("❌ Refuse")), f"lk:refuse:{link.id}"),
            ]
        ],
        # Typed, only the words of a button answer it: a number the owner types into a report at
        # that moment ("1" member) must never allow a link.
        typed=Typed.value,
    ).with_hint(locale)
    # In the app the code was made in; else wherever a notice to the owner goes.
    made_in = uow.links.identity(link.identity_id)
    row: dict | None
    if made_in is not None and made_in.account_id == owner.id and made_in.reachable:
        row = outbox_row(made_in.channel, made_in.chat_id, owner.id, message, ctx.now)
    else:
        row = notice_row(uow, owner.id, message, ctx.now, ctx.engine.window)
    if row is None:
        return  # nowhere to ask: the code expires unanswered
    uow.outbox.queue([row])
    if row["status"] == "pending":
        remember(uow, owner.id, message, ctx.now, channel=row["channel"], chat_id=row["chat_id"])


def link_action(ctx: Ctx, arg: str) -> None:
    """Buttons "lk:allow:<code id>", "lk:refuse:<code id>", "lk:keep:<code id>:<conversation id>"
    (the owner's answers) and "lk:pref:<identity id, 0 for the app used last>"."""
    verb, _, rest = arg.partition(":")
    if verb == "pref":
        return _prefer(ctx, rest)
    link_part, _, keep_part = rest.partition(":")
    link_id = parse_id(link_part)
    link = ctx.uow.links.get(link_id) if link_id else None
    if link is None or verb not in ("allow", "refuse", "keep"):
        ctx.say(BUTTON_GONE)
        return
    # Both accounts locked (in id order) and the code read again: a merge that another worker
    # made meanwhile (crossed requests allowed at once) is seen here.
    link = ctx.uow.links.lock_pair(link.id)
    if link is not None and link.account_id != ctx.account_id:
        # This app may lead to the account the code moved to by that merge: then it answers.
        sender = ctx.uow.accounts.sender(ctx.incoming.channel, ctx.incoming.user_id)
        if sender is not None and sender.account_id == link.account_id:
            ctx.become(sender)
    # Only the code's owner answers (the buttons of the old flow, "lk:ok" and "lk:no" pressed by
    # whoever typed the code, do nothing now).
    if link is None or link.account_id != ctx.account_id or link.claimed_by is None:
        ctx.say(BUTTON_GONE)
        return
    if link.used_at is not None or link.expires_at <= ctx.now:
        ctx.say(ANSWERED)
        return
    if verb == "refuse":
        return _refuse(ctx, link)
    if link.claimed_by == ctx.account_id:  # crossed codes: the other one linked these apps already
        ctx.uow.links.consume(link.id, ctx.account_id, ctx.now)
        ctx.say(N_("These apps already lead to the same account. Nothing more to do."))
        return
    mine, theirs = draft_of(ctx.uow.conn, ctx.account_id), draft_of(ctx.uow.conn, link.claimed_by)
    if mine is None or theirs is None:
        return _merge(ctx, link, keep=None)
    keep = parse_id(keep_part) if verb == "keep" else None
    if keep in (mine.id, theirs.id):
        return _merge(ctx, link, keep=keep)
    newer, older = sorted((mine, theirs), key=lambda c: (c.updated_at, c.id), reverse=True)
    ctx.say(
        N_(
            "Both accounts have something unfinished. Which one do you want to keep? The other is cancelled (it stays in the history)."
        ),
        buttons=[
            [Button(_draft_label(ctx, newer, N_("{title}, {when} (newer)")), f"lk:keep:{link.id}:{newer.id}")],
            [Button(_draft_label(ctx, older, N_("{title}, {when}")), f"lk:keep:{link.id}:{older.id}")],
        ],
    )


def _draft_label(ctx: Ctx, conversation: Row, msgid: str) -> str:
    journey = ctx.engine.runner.journeys.get(conversation.journey)
    title = ctx.t(journey.title) if journey else conversation.journey
    return ctx.t(msgid, title=title, when=_when(ctx, conversation.updated_at))


def _refuse(ctx: Ctx, link: Row) -> None:
    uow = ctx.uow
    if not uow.links.refuse(link.id, ctx.account_id, ctx.now):
        ctx.say(ANSWERED)
        return
    ctx.say(N_("Refused: nothing was linked, and that code cannot be used again."))
    typed_in = uow.links.identity(link.claimed_identity_id)
    if typed_in is not None and typed_in.reachable:
        claimer = uow.accounts.one(typed_in.account_id)
        told = Outgoing(gettext(claimer.locale, N_("The link was refused in the other app. Nothing was linked.")))
        uow.outbox.queue([outbox_row(typed_in.channel, typed_in.chat_id, claimer.id, told, ctx.now)])


def _merge(ctx: Ctx, link: Row, keep: int | None) -> None:
    """The owner allowed: the account that typed the code is merged into the owner's (both rows
    locked by the caller). Both apps are told the same, and the draft goes on in both."""
    uow = ctx.uow
    claimer = link.claimed_by
    if not uow.links.consume(link.id, claimer, ctx.now):
        ctx.say(ANSWERED)
        return
    merge_accounts(uow.conn, into=ctx.account_id, other=claimer, keep=keep, now=ctx.now)
    ctx.forget_roles()
    typed_in = uow.links.identity(link.claimed_identity_id)
    identities = uow.accounts.identities(ctx.account_id)
    channels = ", ".join(dict.fromkeys(channel_label(ctx, i.channel) for i in identities))
    # The account's other apps are told too: it has one more way in.
    new_channel = channel_label(ctx, typed_in.channel if typed_in is not None else ctx.incoming.channel)
    warning = gettext(
        ctx.locale,
        N_(
            "{channel} now uses your account too (linked {when}). If this was not you, please tell the union above you at once."
        ),
        channel=new_channel,
        when=_when(ctx, ctx.now),
    )
    both = {ctx.sender.identity_id, typed_in.id if typed_in is not None else None}
    uow.outbox.queue(
        [
            outbox_row(i.channel, i.chat_id, ctx.account_id, Outgoing(warning), ctx.now)
            for i in identities
            if i.reachable and i.id not in both
        ]
    )
    first = len(ctx.replies)
    ctx.say(N_("Linked! {channels} now lead to the same account."), channels=channels)
    if ctx.roles:
        roles = "; ".join(
            ctx.t(N_("{role} of {unit}"), role=ctx.t(ROLE_LABELS[Role(r.role)]), unit=r.name) for r in ctx.roles
        )
        ctx.say(N_("Your roles (those of both accounts are kept): {roles}."), roles=roles)
    state = uow.conversations.active(ctx.account_id)
    if state is not None:
        ctx.say(N_("Let us continue where you left off."))
        ctx.engine.runner.ask(ctx, state)
    # The app that typed the code waits for the outcome: the same messages, the draft's question
    # last (the account's question, in both apps).
    if typed_in is not None and typed_in.reachable:
        uow.outbox.queue(
            [outbox_row(typed_in.channel, typed_in.chat_id, ctx.account_id, m, ctx.now) for m in ctx.replies[first:]]
        )


def _prefer(ctx: Ctx, arg: str) -> None:
    identity_id = None if arg == "0" else parse_id(arg)
    if (arg != "0" and identity_id is None) or not ctx.uow.accounts.prefer(ctx.account_id, identity_id):
        ctx.say(BUTTON_GONE)
        return
    if identity_id is None:
        ctx.say(N_("Notices will go to the app you used last."))
        return
    [identity] = [i for i in ctx.uow.accounts.identities(ctx.account_id) if i.id == identity_id]
    ctx.say(N_("Notices will go to {channel}."), channel=channel_label(ctx, identity.channel))
