"""`chidoan data …`: how an operator answers a person's request about their personal data (Law
91/2025/QH15) without the chat: show or export what is held, erase it, prune what has expired.
The same storage as /dulieu (storage/privacy.py); every export and erasure is recorded
(privacy_action, source "cli")."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from chidoan.bot.voice import Voice
from chidoan.i18n import N_, fold

NO_ACCOUNT = N_("There is no such account.")
ERASE_WORD = N_("erase")  # what the operator types to confirm an erasure
# How the erasure's counts (storage/privacy.py `erase`, also the audit row's detail) are worded; a key
# missing here fails tests/test_command_line.py, which erases through the command.
ERASED_COUNTS = {
    "link_codes": N_("{n} link code(s)"),
    "identities": N_("{n} chat app account(s)"),
    "roles_ended": N_("{n} role(s) ended"),
    "uploads": N_("{n} file(s) sent for reports never filed"),
    "conversations": N_("{n} unfinished conversation(s)"),
    "prompts": N_("{n} question(s) waiting for an answer"),
    "events_cleared": N_("the text of {n} received message(s)"),
    "messages": N_("{n} sent message(s)"),
    "reminders": N_("{n} reminder(s)"),
    "jobs": N_("{n} pending task(s)"),
    "exports": N_("{n} copy(ies) of their data sent to them"),
}


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="a person's personal data: show, export, erase; prune what has expired")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    for name, what in (
        ("show", "print what is held about a person"),
        ("export", "write what is held about a person to a JSON file (to send them)"),
        ("erase", "erase a person's personal details; the reports they filed stay with their unit"),
    ):
        one = data_sub.add_parser(name, help=what)
        who = one.add_mutually_exclusive_group(required=True)
        who.add_argument("--account", type=int, help="the account's id")
        who.add_argument("--user", help="the person's id in an app (with --app): a Telegram user id, a Zalo id…")
        one.add_argument("--app", default="telegram", help="the app of --user: telegram, zalo, zalo_bot, web")
        if name == "export":
            one.add_argument("--out", type=Path, required=True, help="the .json file to write")
        if name == "erase":
            one.add_argument("--yes", action="store_true", help="erase without asking (a request already checked)")
    data_sub.add_parser("prune", help="delete now the events, messages and conversations past their retention")


def cmd_data(settings, args: argparse.Namespace, voice: Voice) -> int:
    from chidoan.bot.cli import _db

    db = _db(settings)
    try:
        if args.data_command == "prune":
            return _prune(db, settings, voice)
        account_id = _find(db, args)
        if account_id is None:
            voice.say(NO_ACCOUNT, err=True)
            return 1
        return {"show": _show, "export": _export, "erase": _erase}[args.data_command](
            db, settings, args, account_id, voice
        )
    finally:
        db.dispose()


def _find(db, args) -> int | None:
    """The account asked for; one linked into another (/lienket) leads to that one."""
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(db) as uow:
        if args.user is not None:
            sender = uow.accounts.sender(args.app, args.user)
            return sender.account_id if sender else None
        account = uow.accounts.get(args.account)
        while account is not None and account.merged_into is not None:
            account = uow.accounts.get(account.merged_into)
        return account.id if account else None


def _holdings(db, account_id: int, *, record: bool) -> dict:
    from chidoan.storage.clock import utcnow
    from chidoan.storage.models import PrivacyActionKind
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(db) as uow:
        now = utcnow()
        held = uow.privacy.holdings(account_id, now)
        if record:
            uow.privacy.record(account_id, PrivacyActionKind.exported, source="cli", now=now)
        return held


def _show(db, _settings, _args, account_id: int, _voice: Voice) -> int:
    print(json.dumps(_holdings(db, account_id, record=False), ensure_ascii=False, indent=2, default=str))
    return 0


def _export(db, _settings, args, account_id: int, voice: Voice) -> int:
    from chidoan.handlers.privacy import export_json

    args.out.write_bytes(export_json(_holdings(db, account_id, record=True)))
    voice.say(
        N_("The data of account {account} was written to {file} (and the export recorded)."),
        account=account_id,
        file=str(args.out),
    )
    return 0


def _erase(db, settings, args, account_id: int, voice: Voice) -> int:
    from chidoan.handlers.privacy import ERASED_NAME, export_filename
    from chidoan.i18n import gettext
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    held = _holdings(db, account_id, record=False)
    if held["account"]["full_name"] == gettext(settings.default_locale, ERASED_NAME) and not held["identities"]:
        voice.say(N_("The data of account {account} was erased before."), account=account_id)
        return 0
    name = held["account"]["full_name"] or voice.t(N_("(no name yet)"))
    apps = ", ".join(f"{i['app']} {i['user_id']}" for i in held["identities"]) or "-"
    voice.say(
        N_("Account {account}: {name}; apps: {apps}; {roles} role(s)."),
        account=account_id,
        name=name,
        apps=apps,
        roles=len(held["roles"]),
    )
    if not args.yes:
        answer = input(
            voice.t(
                N_(
                    "Erase this person's personal details? The reports they filed stay with the unit. Type “{word}” to erase: "
                ),
                word=voice.t(ERASE_WORD),
            )
        )
        if fold(answer) not in {fold(voice.t(ERASE_WORD)), "xoa", "erase"}:
            voice.say(N_("Nothing was erased."))
            return 1
    with unit_of_work(db) as uow:
        removed = uow.privacy.erase(
            account_id,
            pseudonym=gettext(settings.default_locale, ERASED_NAME),
            source="cli",
            now=utcnow(),
            exports_of=export_filename(account_id),
        )
    voice.say(N_("Erased: {what}."), what=", ".join(voice.t(ERASED_COUNTS[what], n=n) for what, n in removed.items()))
    return 0


def _prune(db, settings, voice: Voice) -> int:
    from chidoan.bot.retention import prune
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    async def run(work):
        with unit_of_work(db) as uow:
            return work(uow)

    started = time.perf_counter()
    pruned = asyncio.run(prune(run, settings, utcnow()))
    took = time.perf_counter() - started
    voice.say(
        N_(
            "Deleted {events} received message(s) (older than {event_days} days), {messages} sent message(s) and {conversations} finished conversation(s) (older than {message_days} days), {drafts} draft(s) untouched for {draft_days} days, {uploads} file(s) of reports never filed and {exports} copy(ies) of people's data (older than {export_days} days); {blanked} reminder(s) kept only as the mark that they were sent; in {seconds} s."
        ),
        events=pruned["events"],
        event_days=settings.keep_events_days,
        messages=pruned["messages"],
        conversations=pruned["conversations"],
        message_days=settings.keep_messages_days,
        drafts=pruned["drafts"],
        draft_days=settings.keep_drafts_days,
        uploads=pruned["uploads"],
        exports=pruned["exports"],
        export_days=settings.keep_exports_days,
        blanked=pruned["messages_blanked"],
        seconds=f"{took:.1f}",
    )
    return 0
