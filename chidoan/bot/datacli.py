"""`chidoan data …`: how an operator answers a person's request about their personal data (Law
91/2025/QH15) without the chat: show or export what is held, erase it, prune what has expired.
The same storage as /dulieu (storage/privacy.py); every export and erasure is recorded
(privacy_action, source "cli")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path


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


def cmd_data(settings, args: argparse.Namespace, _voice=None) -> int:
    from chidoan.bot.cli import _db

    db = _db(settings)
    try:
        if args.data_command == "prune":
            return _prune(db, settings)
        account_id = _find(db, args)
        if account_id is None:
            print("Không tìm thấy tài khoản này.", file=sys.stderr)
            return 1
        return {"show": _show, "export": _export, "erase": _erase}[args.data_command](db, settings, args, account_id)
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


def _show(db, _settings, _args, account_id: int) -> int:
    print(json.dumps(_holdings(db, account_id, record=False), ensure_ascii=False, indent=2, default=str))
    return 0


def _export(db, _settings, args, account_id: int) -> int:
    from chidoan.handlers.privacy import export_json

    args.out.write_bytes(export_json(_holdings(db, account_id, record=True)))
    print(f"Đã ghi dữ liệu của tài khoản {account_id} vào {args.out} (đã ghi nhận vào nhật ký).")
    return 0


def _erase(db, settings, args, account_id: int) -> int:
    from chidoan.handlers.privacy import ERASED_NAME, export_filename
    from chidoan.i18n import gettext
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    held = _holdings(db, account_id, record=False)
    if held["account"]["full_name"] == gettext(settings.default_locale, ERASED_NAME) and not held["identities"]:
        print(f"Dữ liệu của tài khoản {account_id} đã được xóa trước đó.")
        return 0
    name = held["account"]["full_name"] or "(chưa có tên)"
    apps = ", ".join(f"{i['app']} {i['user_id']}" for i in held["identities"]) or "-"
    print(f"Tài khoản {account_id}: {name}; ứng dụng: {apps}; {len(held['roles'])} vai trò.")
    if not args.yes:
        answer = input("Xóa dữ liệu cá nhân của người này? Báo cáo đã gửi vẫn thuộc về đơn vị. Gõ 'xoa' để xóa: ")
        if answer.strip().lower() not in ("xoa", "xóa"):
            print("Chưa xóa gì.")
            return 1
    with unit_of_work(db) as uow:
        removed = uow.privacy.erase(
            account_id,
            pseudonym=gettext(settings.default_locale, ERASED_NAME),
            source="cli",
            now=utcnow(),
            exports_of=export_filename(account_id),
        )
    print("Đã xóa: " + ", ".join(f"{what} {n}" for what, n in removed.items()))
    return 0


def _prune(db, settings) -> int:
    from chidoan.bot.retention import prune
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    async def run(work):
        with unit_of_work(db) as uow:
            return work(uow)

    started = time.perf_counter()
    pruned = asyncio.run(prune(run, settings, utcnow()))
    took = time.perf_counter() - started
    print(
        f"Đã xóa {pruned['events']} tin nhắn nhận (quá {settings.keep_events_days} ngày), "
        f"{pruned['messages']} tin nhắn gửi và {pruned['conversations']} cuộc trò chuyện đã xong "
        f"(quá {settings.keep_messages_days} ngày) trong {took:.1f} giây."
    )
    return 0
