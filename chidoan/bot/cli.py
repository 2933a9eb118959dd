"""The `chidoan` command: run the bot, import the org tree, load the demo, issue invites."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from chidoan.bot.config import Settings
from chidoan.storage.models import Role

log = logging.getLogger("chidoan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chidoan", description="Youth Union secretaries' chat bot")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (web chat; Telegram too when TELEGRAM_BOT_TOKEN is set)")
    run.add_argument("--demo", action="store_true", help="load the demo data first if it is not there yet")

    sub.add_parser("demo", help="load the demo province, districts, units and demo accounts")
    sub.add_parser("migrate", help="bring the database schema up to date")

    org = sub.add_parser("org", help="org units")
    org_sub = org.add_subparsers(dest="org_command", required=True)
    imp = org_sub.add_parser("import", help="import units from a CSV or XLSX file (code, name, kind, parent_code)")
    imp.add_argument("file", type=Path)

    invite = sub.add_parser("invite", help="issue a single-use invite code for a unit and a role")
    invite.add_argument("--unit", required=True, help="the unit's code")
    invite.add_argument("--role", required=True, choices=[Role.secretary, Role.deputy, Role.district_staff, Role.admin])
    invite.add_argument(
        "--days", type=int, default=None, help="days until it expires (default CHIDOAN_INVITE_DAYS, 14)"
    )

    failed = sub.add_parser("failed", help="list the newest events that could not be handled (kept as failed)")
    failed.add_argument("--limit", type=int, default=20, help="how many (default 20)")

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # said plainly, without a traceback
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"chidoan: configuration: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return COMMANDS[args.command](settings, args)


def _db(settings):
    from chidoan.storage.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def cmd_run(settings, args) -> int:
    from chidoan.bot.app import App, StartupError

    try:
        app = App(settings)
    except StartupError as exc:  # one clear line; a traceback would only hide it
        log.error("not starting: %s", exc)
        return 1
    if args.demo or settings.demo:
        app.host.descriptions.update(_load_demo(settings).descriptions)
    asyncio.run(app.run_forever())
    return 0


def _load_demo(settings):
    from chidoan.bot.demo import load_demo

    engine = _db(settings)
    try:
        return load_demo(engine, settings)
    finally:
        engine.dispose()


def cmd_demo(settings, _args) -> int:
    info = _load_demo(settings)
    print("Demo loaded. Web chat identities:")
    for external_id, description in info.descriptions.items():
        print(f"  {external_id}: {description}")
    return 0


def cmd_migrate(settings, _args) -> int:
    _db(settings).dispose()
    print("schema up to date")
    return 0


def cmd_org(settings, args) -> int:
    from chidoan.bot.orgimport import import_org

    engine = _db(settings)
    result = import_org(engine, args.file, progress=sys.stderr.isatty())
    engine.dispose()
    if not result.ok:
        print(f"Không nhập gì cả: tệp có {len(result.problems)} lỗi.", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"Đã nhập: {result.created} đơn vị mới, {result.updated} đơn vị cập nhật.")
    return 0


def cmd_invite(settings, args) -> int:
    from chidoan.handlers.invites import bot_username, deep_link, issue
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    engine = _db(settings)
    with unit_of_work(engine) as uow:
        unit = uow.units.by_code(args.unit)
        if unit is None:
            print(f"No unit with code {args.unit!r}.", file=sys.stderr)
            return 1
        invite = issue(
            uow, unit=unit, role=Role(args.role), issued_by=None, now=utcnow(), days=args.days or settings.invite_days
        )
        username = bot_username(uow, settings)
    engine.dispose()
    print(f"code: {invite.code}")
    print(f"unit: {unit.name} ({unit.code}); role: {args.role}")
    print(f"expires: {invite.expires_at.astimezone(settings.tz):%d/%m/%Y %H:%M} ({settings.timezone})")
    link = deep_link(username, invite.code)
    print(
        f"link: {link}"
        if link
        else "link: (set TELEGRAM_BOT_USERNAME, or start the bot once with a token, to get the t.me link)"
    )
    return 0


def cmd_failed(settings, args) -> int:
    """What was kept as failed, newest first: when, where, who, why, and what was sent."""
    from chidoan.storage.uow import unit_of_work

    engine = _db(settings)
    with unit_of_work(engine) as uow:
        events = uow.events.failed(max(args.limit, 1))
        people = {e.account_id: uow.accounts.get(e.account_id) for e in events if e.account_id is not None}
    engine.dispose()
    if not events:
        print("No failed events.")
        return 0
    for e in events:
        person = people.get(e.account_id)
        who = (person.full_name if person else None) or (f"account {e.account_id}" if e.account_id else "unknown")
        said = e.text if e.text is not None else (f"[button {e.payload}]" if e.payload else f"[{e.kind}]")
        print(f"#{e.id} {e.failed_at.astimezone(settings.tz):%d/%m/%Y %H:%M} {e.channel} event {e.event_id}: {who}")
        print(f"    sent: {_short(said)}")
        print(f"    error: {e.error}")
    return 0


def _short(text: str, limit: int = 120) -> str:
    text = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())  # no terminal escapes
    return text if len(text) <= limit else text[: limit - 1] + "…"


COMMANDS = {
    "run": cmd_run,
    "demo": cmd_demo,
    "migrate": cmd_migrate,
    "org": cmd_org,
    "invite": cmd_invite,
    "failed": cmd_failed,
}

if __name__ == "__main__":
    raise SystemExit(main())
