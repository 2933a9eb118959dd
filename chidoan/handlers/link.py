"""One person, one account across channels: /lienket gives a one-time code; typed on another app
(Telegram, Zalo, the web chat) and confirmed there, it binds that app to the same account.

Roles of both accounts are kept (merged); when both have an unfinished report or plan, the
person is asked which one to keep (the newer one first). Notices go to the app the person used
last, unless they choose one here.
"""

from __future__ import annotations

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.dispatch import outbox_row
from chidoan.engine.inputs import parse_id
from chidoan.engine.messages import Button, Outgoing
from chidoan.engine.notices import route
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import N_, gettext
from chidoan.storage.links import LIFETIME, MAX_WRONG, draft_of, looks_like_link_code, merge_accounts
from chidoan.storage.models import Role

CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "web": N_("web chat")}


def channel_label(ctx: Ctx, channel: str) -> str:
    label = CHANNEL_LABELS.get(channel)
    return ctx.t(label) if label else channel.capitalize()


def _when(ctx: Ctx, moment) -> str:
    return moment.astimezone(ctx.tz).strftime("%d/%m/%Y %H:%M") if moment else "-"


def link_command(ctx: Ctx, args: str) -> None:
    """/lienket: a new code, the channels already linked and the choice of where notices go;
    /lienket CODE: the same as typing the code."""
    if args and looks_like_link_code(args):
        return link_code(ctx, args)
    code = ctx.uow.links.issue(ctx.account_id, ctx.now)
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


def link_code(ctx: Ctx, text: str) -> None:
    """A link code typed (on any channel, even in the middle of a report)."""
    links = ctx.uow.links
    if links.wrong_recently(ctx.account_id, ctx.now) >= MAX_WRONG:
        ctx.say(N_("Too many wrong link codes. Please wait an hour, then make a new code with /lienket."))
        return
    link = links.live(text, ctx.now)
    if link is not None and link.account_id == ctx.account_id:
        ctx.say(N_("This is your own link code. Send it from the other app you want to link."))
        return
    if link is None or not links.claim(link.id, ctx.account_id, ctx.now):
        links.wrong(ctx.account_id, ctx.now)
        if link is not None or links.spent(text) is not None:
            ctx.say(N_("This link code has expired or has already been used. Make a new one with /lienket."))
        else:
            ctx.say(N_("That link code is not right. Please check it, or make a new one with /lienket."))
        return
    owner = ctx.uow.accounts.one(link.account_id)
    channels = ", ".join(dict.fromkeys(channel_label(ctx, i.channel) for i in ctx.uow.accounts.identities(owner.id)))
    ctx.say(
        N_(
            "This code comes from {name} ({channels}). Link this {channel} to that account? Afterwards both lead to the same account: the roles of both are kept, and notices go to the app you used last."
        ),
        name=owner.full_name or "-",
        channels=channels or "-",
        channel=channel_label(ctx, ctx.incoming.channel),
        buttons=[[Button(ctx.t(N_("✅ Link")), f"lk:ok:{link.id}"), Button(ctx.t(N_("Cancel")), f"lk:no:{link.id}")]],
    )


def link_action(ctx: Ctx, arg: str) -> None:
    """Buttons "lk:ok:<code id>", "lk:no:<code id>", "lk:keep:<code id>:<conversation id>" and
    "lk:pref:<identity id, 0 for the app used last>"."""
    verb, _, rest = arg.partition(":")
    if verb == "pref":
        return _prefer(ctx, rest)
    link_part, _, keep_part = rest.partition(":")
    link_id = parse_id(link_part)
    link = ctx.uow.links.get(link_id) if link_id else None
    if link is None or link.claimed_by != ctx.account_id or verb not in ("ok", "no", "keep"):
        ctx.say(N_("That button is no longer valid."))
        return
    if link.used_at is not None or link.expires_at <= ctx.now:
        ctx.say(N_("This link code has expired or has already been used. Make a new one with /lienket."))
        return
    if verb == "no":
        ctx.uow.links.consume(link.id, ctx.account_id, ctx.now)
        ctx.say(N_("Not linked. Make a new code with /lienket if you change your mind."))
        return
    mine, theirs = draft_of(ctx.uow.conn, link.account_id), draft_of(ctx.uow.conn, ctx.account_id)
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


def _merge(ctx: Ctx, link: Row, keep: int | None) -> None:
    uow = ctx.uow
    if not uow.links.consume(link.id, ctx.account_id, ctx.now):
        ctx.say(N_("This link code has expired or has already been used. Make a new one with /lienket."))
        return
    merge_accounts(uow.conn, into=link.account_id, other=ctx.account_id, keep=keep, now=ctx.now)
    # From here on this event is the surviving account's.
    sender = uow.accounts.sender(ctx.incoming.channel, ctx.incoming.user_id)
    assert sender is not None and sender.account_id == link.account_id
    ctx.sender = sender
    ctx.forget_roles()
    identities = uow.accounts.identities(ctx.account_id)
    channels = ", ".join(dict.fromkeys(channel_label(ctx, i.channel) for i in identities))
    # Told in every other app of the account: whoever saw the code could have typed it.
    warning = gettext(
        ctx.locale,
        N_(
            "{channel} now uses your account too (linked {when}). If this was not you, please tell the union above you at once."
        ),
        channel=channel_label(ctx, ctx.incoming.channel),
        when=_when(ctx, ctx.now),
    )
    uow.outbox.queue(
        [
            outbox_row(i.channel, i.chat_id, ctx.account_id, Outgoing(warning), ctx.now)
            for i in identities
            if i.reachable and i.id != ctx.sender.identity_id
        ]
    )
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


def _prefer(ctx: Ctx, arg: str) -> None:
    identity_id = None if arg == "0" else parse_id(arg)
    if (arg != "0" and identity_id is None) or not ctx.uow.accounts.prefer(ctx.account_id, identity_id):
        ctx.say(N_("That button is no longer valid."))
        return
    if identity_id is None:
        ctx.say(N_("Notices will go to the app you used last."))
        return
    [identity] = [i for i in ctx.uow.accounts.identities(ctx.account_id) if i.id == identity_id]
    ctx.say(N_("Notices will go to {channel}."), channel=channel_label(ctx, identity.channel))
