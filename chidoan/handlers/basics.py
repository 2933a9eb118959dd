"""/start, /help, /huy, /ngonngu, /toi, and the language buttons."""

from __future__ import annotations

from chidoan.engine.context import Ctx
from chidoan.engine.messages import BUTTON_GONE, Button
from chidoan.handlers.labels import KIND_LABELS, ROLE_LABELS
from chidoan.handlers.onboarding import start_with_code
from chidoan.i18n import LOCALES, N_, fold
from chidoan.storage.models import Role, UnitKind

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
ALREADY_ELSEWHERE = N_(
    "Already using chidoan in another app? Send /lienket there, then type the code it gives you here."
)


def start(ctx: Ctx, args: str) -> None:
    if args:
        return start_with_code(ctx, args)
    state = ctx.uow.conversations.active(ctx.account_id)
    if state is not None:
        ctx.say(N_("Welcome back! Let us continue where you left off."))
        return ctx.engine.runner.ask(ctx, state)
    if ctx.registered:
        if ctx.sender.full_name:
            ctx.say(N_("Welcome back, {name}! Type /help to see what you can do."), name=ctx.sender.full_name)
        else:
            ctx.say(N_("Welcome back! Type /help to see what you can do."))
        return
    hello = ctx.t(
        N_(
            "Hello! I am chidoan, the Youth Union's assistant for branch and base-unit reports.\nTo begin, please send the invite code you were given (8 letters and digits)."
        )
    )
    ctx.say_text(f"{hello}\n{ctx.t(ALREADY_ELSEWHERE)}")


def help_(ctx: Ctx, _args: str) -> None:
    lines = [ctx.t(N_("Commands you can use:"))]
    for command in ctx.engine.commands:
        if command.listed(ctx):
            aliases = ", ".join(f"/{a}" for a in command.aliases)
            lines.append(
                f"/{command.name} ({aliases}) — {ctx.t(command.description)}"
                if aliases
                else f"/{command.name} — {ctx.t(command.description)}"
            )
    if not ctx.registered:
        lines += ["", ctx.t(N_("Not registered yet? Send the invite code you were given.")), ctx.t(ALREADY_ELSEWHERE)]
    ctx.say_text("\n".join(lines))


def cancel(ctx: Ctx, _args: str) -> None:
    state = ctx.uow.conversations.active(ctx.account_id)
    if state is None:
        ctx.say(N_("There is nothing to cancel."))
        return
    ctx.engine.runner.cancel(ctx, state)


def language(ctx: Ctx, args: str) -> None:
    wanted = {fold(name): code for code, name in LANGUAGE_NAMES.items()} | {code: code for code in LOCALES}
    choice = wanted.get(fold(args)) if args else None
    if choice:
        return set_language(ctx, choice)
    ctx.say(
        N_("Choose your language:"),
        buttons=[[Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in LOCALES]],
    )


# TRANSLATORS: shown after the switch, in the language just chosen: each locale names itself
# ("Đã chuyển ngôn ngữ sang tiếng Việt."), so a translation that does not say "English" is right.
LANGUAGE_SET = N_("Language set to English.")


def set_language(ctx: Ctx, code: str) -> None:
    if code not in LOCALES:
        ctx.say(BUTTON_GONE)
        return
    ctx.uow.accounts.update(ctx.account_id, locale=code)
    ctx.switch_locale(code)
    ctx.say(LANGUAGE_SET)
    state = ctx.uow.conversations.active(ctx.account_id)
    if state is not None:
        ctx.engine.runner.ask(ctx, state)


def me(ctx: Ctx, _args: str) -> None:
    account = ctx.uow.accounts.one(ctx.account_id)
    lines = [
        ctx.t(N_("Name: {name}"), name=account.full_name or ctx.t(N_("(not given yet)"))),
        ctx.t(N_("Position: {position}"), position=account.position or ctx.t(N_("(not given yet)"))),
        ctx.t(N_("Language: {language}"), language=LANGUAGE_NAMES[ctx.locale]),
    ]
    if not ctx.roles:
        lines.append(ctx.t(N_("You are not registered with any unit yet. Send the invite code you were given.")))
    for role in ctx.roles:
        unit = ctx.uow.units.one(role.unit_id)
        chain = " › ".join(a.name for a in reversed(ctx.uow.units.ancestors(unit)))
        lines.append(
            ctx.t(
                N_("{role} of {unit} ({kind}, code {code}){within}"),
                role=ctx.t(ROLE_LABELS[Role(role.role)]),
                unit=unit.name,
                kind=ctx.t(KIND_LABELS[UnitKind(unit.kind)]),
                code=unit.code,
                within=f" — {chain}" if chain else "",
            )
        )
    ctx.say_text("\n".join(lines))
