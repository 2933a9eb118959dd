"""The `chidoan` command: run the bot, import the org tree, load the demo, issue invites, connect Zalo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from chidoan.bot import logs
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
    merge = org_sub.add_parser(
        "merge",
        help="fold one unit into another: its children, roles and open commitments move there; its history stays",
    )
    merge.add_argument("--from", dest="source", required=True, help="the code of the unit merged away")
    merge.add_argument("--into", dest="target", required=True, help="the code of the unit it is merged into")
    merge.add_argument("--on", help="the day the merger took effect, DD/MM/YYYY (default today)")

    invite = sub.add_parser("invite", help="issue a single-use invite code for a unit and a role")
    invite.add_argument("--unit", required=True, help="the unit's code")
    invite.add_argument("--role", required=True, choices=[Role.secretary, Role.deputy, Role.district_staff, Role.admin])
    invite.add_argument(
        "--days", type=int, default=None, help="days until it expires (default CHIDOAN_INVITE_DAYS, 14)"
    )

    failed = sub.add_parser("failed", help="list the newest events that could not be handled (kept as failed)")
    failed.add_argument("--limit", type=int, default=20, help="how many (default 20)")

    zalo = sub.add_parser("zalo", help="the Zalo Official Account's authorisation and its health")
    zalo_sub = zalo.add_subparsers(dest="zalo_command", required=True)
    connect = zalo_sub.add_parser(
        "connect", help="authorise the app for the Official Account: a consent link, then the code Zalo gives back"
    )
    connect.add_argument("--code", help="the code from the address Zalo sent the browser to (or that whole address)")
    connect.add_argument("--redirect-uri", help="the app's registered callback address (default ZALO_OA_REDIRECT_URI)")
    zalo_sub.add_parser(
        "status", help="the access token's age, expiry, last refresh and error; the webhook's last event"
    )

    reminders = sub.add_parser("reminders", help="the reminders of deadlines")
    reminders_sub = reminders.add_subparsers(dest="reminders_command", required=True)
    plan = reminders_sub.add_parser("plan", help="print what a sweep at a moment would send, without sending")
    plan.add_argument("--at", required=True, help='local time, e.g. "2026-10-12 08:00"')
    plan.add_argument("--district", help="only this reviewing unit's subtree (its code)")

    export = sub.add_parser("export", help="a subtree's year as a spreadsheet (.xlsx): one sheet per kind of record")
    export.add_argument("--district", required=True, help="the code of the unit whose subtree is exported")
    export.add_argument("--year", type=int, required=True, help="the plan year (meetings and dialogues of that year)")
    export.add_argument("--out", type=Path, required=True, help="the .xlsx file to write")
    export.add_argument("--quiet", action="store_true", help="no progress bar")

    document = sub.add_parser("document", help="a reviewing unit's documents (.docx)")
    document_sub = document.add_subparsers(dest="document_command", required=True)
    for name, what in (
        ("compiled", "the compiled report on the plans of the units it reviews (BÁO CÁO)"),
        ("decision", "the decision recognising the units whose plans passed (QUYẾT ĐỊNH)"),
    ):
        one = document_sub.add_parser(name, help=what)
        one.add_argument("--unit", required=True, help="the reviewing unit's code")
        one.add_argument("--year", type=int, required=True, help="the plan year")
        one.add_argument("--out", type=Path, required=True, help="the .docx file to write")

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # said plainly, without a traceback
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"chidoan: configuration: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    logs.announce_database(settings)
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
    return {"import": cmd_org_import, "merge": cmd_org_merge}[args.org_command](settings, args)


def cmd_org_import(settings, args) -> int:
    from chidoan.bot.orgimport import import_org

    engine = _db(settings)
    result = import_org(engine, args.file, progress=sys.stderr.isatty())
    engine.dispose()
    if not result.ok:
        print(f"Không nhập gì cả: tệp có {len(result.problems)} lỗi.", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"Đã nhập: {result.created} đơn vị mới, {result.updated} đơn vị cập nhật, "
        f"{result.moved} đơn vị chuyển sang đơn vị cấp trên mới."
    )
    return 0


def cmd_org_merge(settings, args) -> int:
    from datetime import datetime

    from chidoan.bot.orgmerge import MergeError, merge_units
    from chidoan.i18n import format_date

    on = None
    if args.on:
        try:
            on = datetime.strptime(args.on.strip(), "%d/%m/%Y").date()
        except ValueError:
            print(
                f"Ngày '{args.on}' không hợp lệ: hãy ghi theo dạng ngày/tháng/năm, ví dụ 01/07/2025.", file=sys.stderr
            )
            return 2
    engine = _db(settings)
    try:
        result = merge_units(engine, args.source, args.target, settings=settings, on=on)
    except MergeError as exc:
        print(f"Không sáp nhập: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    x, y = result.source, result.target
    print(f"Đã sáp nhập {x.name} ({x.code}) vào {y.name} ({y.code}) từ ngày {format_date(result.on)}.")
    print(
        f"  {len(result.children)} đơn vị trực thuộc chuyển sang {y.code}; "
        f"{result.roles_moved} vai trò tiếp tục ở {y.code}, {result.roles_ended} vai trò kết thúc; "
        f"{result.commitments} cam kết chưa xong chuyển sang {y.code}; {result.invites} mã mời bị huỷ; "
        f"{result.notices} thông báo gửi đến những người liên quan."
    )
    print(f"  Kế hoạch, báo cáo và lịch sử của {x.code} được giữ nguyên.")
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
        if not uow.units.is_open(unit):  # the check /moi and redeeming a code make
            into = uow.units.successor(unit)
            print(
                f"{unit.code} was merged into {into.code if into else 'another unit'}: invite to that unit.",
                file=sys.stderr,
            )
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


def cmd_reminders(settings, args) -> int:
    from datetime import datetime

    from chidoan.reminders.preview import preview
    from chidoan.storage.uow import unit_of_work

    try:
        at = datetime.fromisoformat(args.at)
        at = at.replace(tzinfo=settings.tz) if at.tzinfo is None else at.astimezone(settings.tz)
    except ValueError:
        print(f'chidoan: --at {args.at!r} is not a time like "2026-10-12 08:00"', file=sys.stderr)
        return 2
    engine = _db(settings)
    with unit_of_work(engine) as uow:
        within = uow.units.by_code(args.district) if args.district else None
    if args.district and within is None:
        print(f"chidoan: no unit with the code {args.district!r}", file=sys.stderr)
        engine.dispose()
        return 2
    lines = preview(engine, settings, at, within)
    engine.dispose()
    print("\n".join(lines))
    return 0


def _short(text: str, limit: int = 120) -> str:
    text = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())  # no terminal escapes
    return text if len(text) <= limit else text[: limit - 1] + "…"


ZALO_PKCE_KEY = "zalo.pkce"  # the pending consent's verifier and state, between the link and the code


def cmd_zalo(settings, args) -> int:
    return {"connect": cmd_zalo_connect, "status": cmd_zalo_status}[args.zalo_command](settings, args)


def cmd_zalo_connect(settings, args) -> int:
    """First authorisation with PKCE: print the consent link (its verifier kept in the database),
    then exchange the code the admin brings back (typed here, or `--code` in a second run)."""
    import json
    import secrets

    from chidoan.bot.channels.zalo_tokens import consent_url, pkce
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    if not settings.zalo_oa_app_id or settings.zalo_oa_app_secret is None:
        print(
            "Set ZALO_OA_APP_ID and ZALO_OA_APP_SECRET (the app's page on developers.zalo.me) first.", file=sys.stderr
        )
        return 2
    engine = _db(settings)
    try:
        pasted = args.code
        if pasted is None:
            redirect_uri = args.redirect_uri or settings.zalo_oa_redirect_uri
            if not redirect_uri:
                print(
                    "Set ZALO_OA_REDIRECT_URI (the callback address registered for the app) or pass --redirect-uri.",
                    file=sys.stderr,
                )
                return 2
            verifier, challenge = pkce()
            state = secrets.token_urlsafe(16)
            pending = {"verifier": verifier, "state": state, "at": utcnow().isoformat()}
            with unit_of_work(engine) as uow:
                uow.kv.put(ZALO_PKCE_KEY, json.dumps(pending))
            print("1. Open this link logged in as an admin of the Official Account, and allow the app:")
            print(f"   {consent_url(settings, redirect_uri=redirect_uri, challenge=challenge, state=state)}")
            print("2. Zalo then sends the browser to the callback address with ?code=… in it (the page itself")
            print("   may show nothing). Copy the code, or the whole address.")
            if not sys.stdin.isatty():
                print("3. Run: chidoan zalo connect --code CODE")
                return 0
            pasted = input("3. Paste it here: ")
        return _zalo_exchange(settings, engine, pasted)
    finally:
        engine.dispose()


def _zalo_exchange(settings, engine, pasted: str) -> int:
    import json

    from chidoan.bot.channels.zalo_tokens import TokenError, ZaloTokens
    from chidoan.storage.uow import unit_of_work

    code, state = _code_and_state(pasted)
    with unit_of_work(engine) as uow:
        saved = uow.kv.get(ZALO_PKCE_KEY)
    pending = json.loads(saved) if saved else None
    if pending is None:
        print("No consent link is waiting for a code: run `chidoan zalo connect` first.", file=sys.stderr)
        return 1
    if not code:
        print("No code found in what was given.", file=sys.stderr)
        return 1
    if state is not None and state != pending["state"]:
        print("That address belongs to another consent link (its state differs): use the newest one.", file=sys.stderr)
        return 1

    async def exchange():
        tokens = ZaloTokens(settings, engine)
        try:
            return await tokens.connect(code, pending["verifier"])
        finally:
            await tokens.stop()

    try:
        expires_at = asyncio.run(exchange())
    except TokenError as exc:
        print(f"Zalo did not authorise the app: {exc}", file=sys.stderr)
        return 1
    with unit_of_work(engine) as uow:
        uow.kv.put(ZALO_PKCE_KEY, "")  # a verifier serves one code
    print(f"Connected. The access token is valid until {expires_at.astimezone(settings.tz):%d/%m/%Y %H:%M}")
    print(
        f"({settings.timezone}); the bot renews it when less than {settings.zalo_oa_refresh_margin_hours:g} hours are left."
    )
    return 0


def _code_and_state(pasted: str) -> tuple[str, str | None]:
    """The code and the state from a pasted callback address, or a bare code."""
    from urllib.parse import parse_qs, urlsplit

    pasted = pasted.strip()
    if "code=" not in pasted:
        return pasted, None
    query = parse_qs(urlsplit(pasted).query or pasted.lstrip("?"))
    states = query.get("state")
    return (query.get("code") or [""])[0], states[0] if states else None


def cmd_zalo_status(settings, _args) -> int:
    """The token's age, expiry, last refresh and last error (never the token), and the webhook's
    health as the newest Zalo event received. Exit status 1 when something needs an admin."""
    from chidoan.bot.channels.zalo_tokens import CHANNEL
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    engine = _db(settings)
    with unit_of_work(engine) as uow:
        token = uow.tokens.get(CHANNEL)
        event = uow.events.latest(CHANNEL)
        failed = uow.events.latest(CHANNEL, failed=True)
    engine.dispose()
    now = utcnow()

    def when(moment) -> str:
        return f"{moment.astimezone(settings.tz):%d/%m/%Y %H:%M}"

    healthy = token is not None
    if token is None:
        print("Zalo token: none yet; run `chidoan zalo connect`.")
    else:
        expired = token.expires_at <= now
        failing = token.last_error_at is not None and token.last_error_at > token.refreshed_at
        healthy = not expired and not failing
        print(f"Zalo token ({settings.timezone}):")
        print(f"  last refresh: {when(token.refreshed_at)} (age {_span(now - token.refreshed_at)})")
        left = f"EXPIRED {_span(now - token.expires_at)} ago" if expired else f"in {_span(token.expires_at - now)}"
        print(
            f"  expires:      {when(token.expires_at)} ({left}); renewed when less than "
            f"{settings.zalo_oa_refresh_margin_hours:g} h are left"
        )
        if token.last_error_at is None:
            print("  last error:   none")
        else:
            since = "" if failing else " (a refresh has succeeded since)"
            print(f"  last error:   {when(token.last_error_at)}: {_short(token.last_error or '')}{since}")
    if event is None:
        print("Webhook: no Zalo event received yet.")
    else:
        print(f"Webhook: last Zalo event received {when(event.received_at)} ({_span(now - event.received_at)} ago).")
    if failed is not None:
        print(f"  newest failed Zalo event: {when(failed.failed_at)} (see `chidoan failed`).")
    return 0 if healthy else 1


def _span(delta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


def _reader(engine):
    """`read` for the document and export builders: each call one transaction of its own."""
    from chidoan.storage.uow import unit_of_work

    async def read(work):
        with unit_of_work(engine) as uow:
            return work(uow)

    async def render(work, *args):
        return work(*args)

    return read, render


def _unit_or_complain(engine, code: str):
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(engine) as uow:
        unit = uow.units.by_code(code)
    if unit is None:
        print(f"chidoan: no unit with the code {code!r}", file=sys.stderr)
    return unit


def cmd_export(settings, args) -> int:
    from tqdm import tqdm

    from chidoan.exports.xlsx import export

    engine = _db(settings)
    try:
        unit = _unit_or_complain(engine, args.district)
        if unit is None:
            return 2
        read, render = _reader(engine)
        with tqdm(total=0, unit="units", disable=args.quiet, desc=unit.code) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            content = asyncio.run(export(read, render, unit.id, args.year, settings, progress=progress))
    finally:
        engine.dispose()
    args.out.write_bytes(content)
    print(f"{args.out}: {len(content):,} bytes")
    return 0


def cmd_document(settings, args) -> int:
    from chidoan.documents.gather import compiled_document, decision_document
    from chidoan.documents.review import render_compiled, render_decision
    from chidoan.programmes.loader import programme_for, programmes
    from chidoan.storage.clock import utcnow
    from chidoan.storage.models import UnitKind

    programme = programme_for(programmes(settings), args.year, UnitKind.base_unit)
    if programme is None:
        print(f"chidoan: no programme covers the plan year {args.year}", file=sys.stderr)
        return 2
    engine = _db(settings)
    try:
        unit = _unit_or_complain(engine, args.unit)
        if unit is None:
            return 2
        if not unit.reviews:
            print(f"chidoan: {args.unit} does not review the units below it", file=sys.stderr)
            return 2
        read, _render = _reader(engine)
        today = utcnow().astimezone(settings.tz).date()
        if args.document_command == "compiled":
            compiled = asyncio.run(compiled_document(read, unit.id, programme, args.year, today, settings))
            content = render_compiled(compiled)
            summary = f"{compiled.registered} of {compiled.expected} units registered"
        else:
            decision = asyncio.run(decision_document(read, unit.id, programme, args.year, today, settings))
            if not decision.units:
                print(f"chidoan: no unit reviewed by {args.unit} has passed for {args.year}: nothing written")
                return 1
            content = render_decision(decision)
            summary = f"{len(decision.units)} units passed"
    finally:
        engine.dispose()
    args.out.write_bytes(content)
    print(f"{args.out}: {summary}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "demo": cmd_demo,
    "migrate": cmd_migrate,
    "org": cmd_org,
    "invite": cmd_invite,
    "failed": cmd_failed,
    "zalo": cmd_zalo,
    "reminders": cmd_reminders,
    "export": cmd_export,
    "document": cmd_document,
}

if __name__ == "__main__":
    raise SystemExit(main())
