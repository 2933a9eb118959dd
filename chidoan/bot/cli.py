"""The `chidoan` command: run the bot, import the org tree, load the demo, issue invites, connect Zalo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from chidoan.bot import logs
from chidoan.bot.announce import announce_database
from chidoan.bot.backup import add_parser as add_backup_parser
from chidoan.bot.backup import cmd_backup, cmd_restore
from chidoan.bot.config import Settings
from chidoan.bot.datacli import add_parser as add_data_parser
from chidoan.bot.datacli import cmd_data
from chidoan.bot.voice import LoggedVoice, UnknownLanguage, Voice, command_language
from chidoan.engine.jobs import standalone
from chidoan.handlers.invites import ROLE_WORD, ROLE_WORDS, valid_roles
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import N_, fold
from chidoan.storage.models import Role

log = logging.getLogger("chidoan")


INVITE_DAYS = range(1, 366)  # an invite lasts a day at least, a year at most
INVITE_ROLES = (Role.secretary, Role.deputy, Role.district_staff, Role.admin)
# The word each role is typed as here: the chat's /moi words, and one for the role only the CLI issues.
INVITE_WORD = ROLE_WORD | {Role.admin: "quantri"}


def main(argv: list[str] | None = None) -> int:
    try:
        language, argv = command_language(sys.argv[1:] if argv is None else argv, os.environ)
    except UnknownLanguage as exc:
        Voice().say(N_("--lang takes vi or en, not “{asked}”."), err=True, asked=str(exc))
        return 2
    voice = Voice(language)
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # said plainly, without a traceback
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"chidoan: configuration: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format, logs.secrets_of(settings))
    announce_database(
        settings,
        LoggedVoice(language) if settings.log_format == "json" else voice,
        creates=args.command != "restore",  # restore puts the backup's database there, not an empty one
    )
    return COMMANDS[args.command](settings, args, voice)


def parser() -> argparse.ArgumentParser:
    """The command line (its help stays in English, as argparse's own words are)."""
    parser = argparse.ArgumentParser(prog="chidoan", description="Youth Union secretaries' chat bot")
    parser.add_argument(
        "--lang", choices=["vi", "en"], help="the language of what it prints (default vi, or the locale's)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (web chat; Telegram too when TELEGRAM_BOT_TOKEN is set)")
    run.add_argument("--demo", action="store_true", help="load the demo data first if it is not there yet")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes serving one port (webhook mode, PostgreSQL); the parent restarts one that dies",
    )

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
    invite.add_argument("--unit", required=True, help="the unit's code (any case)")
    invite.add_argument(
        "--role",
        required=True,
        help="bithu, phobithu, canbo (as in chat) or quantri; also secretary, deputy, district_staff, admin. "
        "Only the roles the unit has: a secretary or deputy for a base unit or branch, staff for a union above them",
    )
    invite.add_argument("--days", help="days until it expires, 1 to 365 (default CHIDOAN_INVITE_DAYS, 14)")

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
    add_data_parser(sub)
    add_backup_parser(sub)
    return parser


def _db(settings):
    from chidoan.storage.db import make_db, upgrade
    from chidoan.storage.files import attach, store_from

    db = make_db(settings.database_url)
    attach(db, store_from(settings))  # the settings' store, not the environment's, for this database
    upgrade(db)
    return db


def cmd_run(settings, args, _voice) -> int:
    from chidoan.bot.workers import Supervisor, refusal

    refused = refusal(settings, args.workers)
    if refused is not None:
        log.error("not starting: %s", refused)
        return 2
    if args.workers > 1:
        if args.demo or settings.demo:
            _load_demo(settings)  # once, not by each worker (migrating the schema first)
        else:
            _db(settings).dispose()  # the schema brought up to date once, before the workers start
        return Supervisor(settings, args.workers).run()
    from chidoan.bot.app import App, StartupError  # not before the workers' metrics are set up (bot/workers.py)

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

    db = _db(settings)
    try:
        return load_demo(db, settings)
    finally:
        db.dispose()


def cmd_demo(settings, _args, voice) -> int:
    info = _load_demo(settings)
    voice.say(N_("Demo loaded. The people of the web chat:"))
    for external_id, description in info.descriptions.items():
        print(f"  {external_id}: {description}")
    return 0


def cmd_migrate(settings, _args, voice) -> int:
    _db(settings).dispose()
    voice.say(N_("The database schema is up to date."))
    return 0


def cmd_org(settings, args, voice) -> int:
    return {"import": cmd_org_import, "merge": cmd_org_merge}[args.org_command](settings, args, voice)


def cmd_org_import(settings, args, voice) -> int:
    from chidoan.bot.orgimport import import_org

    db = _db(settings)
    result = import_org(db, args.file, progress=sys.stderr.isatty())
    db.dispose()
    if not result.ok:
        voice.say(N_("Nothing imported: the file has {n} problem(s)."), err=True, n=len(result.problems))
        for problem in result.problems:
            print(f"  {problem.render(voice.t)}", file=sys.stderr)
        return 1
    voice.say(
        N_("Imported: {created} new unit(s), {updated} unit(s) updated, {moved} unit(s) moved under a new parent."),
        created=result.created,
        updated=result.updated,
        moved=result.moved,
    )
    return 0


def cmd_org_merge(settings, args, voice) -> int:
    from datetime import datetime

    from chidoan.bot.orgmerge import MergeError, merge_units
    from chidoan.i18n import format_date

    on = None
    if args.on:
        try:
            on = datetime.strptime(args.on.strip(), "%d/%m/%Y").date()
        except ValueError:
            voice.say(
                N_("The date “{day}” is not valid: write it as day/month/year, e.g. 01/07/2025."), err=True, day=args.on
            )
            return 2
    db = _db(settings)
    try:
        source, target = (_code_any_case(db, code) for code in (args.source, args.target))
        result = merge_units(db, source, target, settings=settings, on=on)
    except MergeError as exc:
        voice.say(N_("Not merged: {reason}"), err=True, reason=exc.render(voice.t))
        return 1
    finally:
        db.dispose()
    x, y = result.source, result.target
    voice.say(
        N_("Merged {x} ({x_code}) into {y} ({y_code}) from {day}."),
        x=x.name,
        x_code=x.code,
        y=y.name,
        y_code=y.code,
        day=format_date(result.on),
    )
    voice.say(
        N_(
            "  {children} unit(s) below it moved to {y_code}; {roles_moved} role(s) go on at {y_code}, {roles_ended} role(s) ended; "
            "{commitments} open commitment(s) moved to {y_code}; {invites} invite code(s) cancelled; {notices} notice(s) sent to the people concerned."
        ),
        children=len(result.children),
        y_code=y.code,
        roles_moved=result.roles_moved,
        roles_ended=result.roles_ended,
        commitments=result.commitments,
        invites=result.invites,
        notices=result.notices,
    )
    voice.say(N_("  The plans, reports and history of {x_code} are kept as they are."), x_code=x.code)
    return 0


def cmd_invite(settings, args, voice) -> int:
    from chidoan.handlers.invites import bot_username, deep_link, issue
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    role = _role(args.role)
    if role is None:
        voice.say(
            N_("“{role}” is not a role that can be invited: use one of {roles}."),
            err=True,
            role=args.role,
            roles=_role_words(INVITE_ROLES, voice),
        )
        return 2
    days = _days(args.days, settings.invite_days)
    if days is None:
        voice.say(N_("--days must be a whole number of days from 1 to 365, not “{days}”."), err=True, days=args.days)
        return 2
    db = _db(settings)
    with unit_of_work(db) as uow:
        unit = _find_unit(uow, args.unit)
        if unit is None:
            voice.say(N_("There is no unit with the code {code}."), err=True, code=args.unit)
            return 1
        if not uow.units.is_open(unit):  # the check /moi and redeeming a code make
            into = uow.units.successor(unit)
            voice.say(
                N_("{unit} has merged into {into} ({code}); invite to {into} instead."),
                err=True,
                unit=unit.code,
                into=into.name if into else "?",
                code=into.code if into else "?",
            )
            return 1
        roles = _invite_roles(unit)
        if role not in roles:  # the rule chat /moi follows: no secretary at a union, no staff at a ward
            voice.say(
                N_("An invite to {unit} ({code}) cannot be for {role}. Its roles: {roles}."),
                err=True,
                unit=unit.name,
                code=unit.code,
                role=ROLE_LABELS[role],
                roles=_role_words(roles, voice),
            )
            return 2
        invite = issue(uow, unit=unit, role=role, issued_by=None, now=utcnow(), days=days)
        username = bot_username(uow, settings)
    db.dispose()
    voice.say(N_("Code: {code}"), code=invite.code)
    voice.say(N_("Unit: {unit} ({code}); role: {role}"), unit=unit.name, code=unit.code, role=ROLE_LABELS[role])
    voice.say(
        N_("Valid until: {expires} ({zone}), for one person only."),
        expires=f"{invite.expires_at.astimezone(settings.tz):%d/%m/%Y %H:%M}",
        zone=settings.timezone,
    )
    link = deep_link(username, invite.code)
    if link:
        voice.say(N_("Link: {link}"), link=link)
    else:
        voice.say(N_("Link: (set TELEGRAM_BOT_USERNAME, or start the bot once with its token, to get the t.me link)"))
    return 0


def _role(text: str) -> Role | None:
    """A role as the chat's /moi takes it ("bithu", "pho bi thu"), as listed here ("quantri")
    or by its name ("deputy")."""
    words = fold(text.replace("_", " "))
    role = (
        ROLE_WORDS.get(words)
        or next((r for r, word in INVITE_WORD.items() if word == words.replace(" ", "")), None)
        or next((r for r in INVITE_ROLES if fold(r.replace("_", " ")) == words), None)
    )
    return role if role in INVITE_ROLES else None


def _invite_roles(unit) -> tuple[Role, ...]:
    """The roles an invite to `unit` may carry: those chat /moi issues there, and an administrator
    (who works everywhere) anywhere."""
    return (*valid_roles(unit), Role.admin)


def _role_words(roles, voice) -> str:
    """Roles as the operator types them, with their names: “bithu” (Bí thư), “canbo” (Cán bộ)."""
    return ", ".join(f"“{INVITE_WORD[r]}” ({voice.t(ROLE_LABELS[r])})" for r in roles)


def _days(text: str | None, default: int) -> int | None:
    """--days: a whole number from 1 to 365 (0 used to mean the default, a negative number an
    invite already expired)."""
    if text is None:
        return default
    try:
        days = int(text.strip())
    except ValueError:
        return None
    return days if days in INVITE_DAYS else None


def _find_unit(uow, code: str):
    """A unit by its code typed in any case, as in the chat ("hd-sk" is HD-SK)."""
    code = code.strip()
    return uow.units.by_code(code) or uow.units.by_code(code.upper())


def _code_any_case(db, code: str) -> str:
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(db) as uow:
        unit = _find_unit(uow, code)
    return unit.code if unit is not None else code


def cmd_failed(settings, args, voice) -> int:
    """What was kept as failed, newest first: when, where, who, why, and what was sent."""
    from chidoan.storage.uow import unit_of_work

    db = _db(settings)
    with unit_of_work(db) as uow:
        events = uow.events.failed(max(args.limit, 1))
        people = {e.account_id: uow.accounts.get(e.account_id) for e in events if e.account_id is not None}
    db.dispose()
    if not events:
        voice.say(N_("No failed events."))
        return 0
    for e in events:
        person = people.get(e.account_id)
        who = (person.full_name if person else None) or (
            voice.t(N_("account {id}"), id=e.account_id) if e.account_id else voice.t(N_("unknown"))
        )
        button = voice.t(N_("button {payload}"), payload=e.payload)
        said = e.text if e.text is not None else (f"[{button}]" if e.payload else f"[{e.kind}]")
        voice.say(
            N_("#{id} {at} {channel} event {event}: {who}"),
            id=e.id,
            at=f"{e.failed_at.astimezone(settings.tz):%d/%m/%Y %H:%M}",
            channel=e.channel,
            event=e.event_id,
            who=who,
        )
        voice.say(N_("    sent: {said}"), said=_short(said))
        voice.say(N_("    error: {error}"), error=e.error)
    return 0


def cmd_reminders(settings, args, voice) -> int:
    from datetime import datetime

    from chidoan.reminders.preview import preview
    from chidoan.storage.uow import unit_of_work

    try:
        at = datetime.fromisoformat(args.at)
        at = at.replace(tzinfo=settings.tz) if at.tzinfo is None else at.astimezone(settings.tz)
    except ValueError:
        voice.say(N_("--at “{at}” is not a time like “2026-10-12 08:00”."), err=True, at=args.at)
        return 2
    db = _db(settings)
    with unit_of_work(db) as uow:
        within = _find_unit(uow, args.district) if args.district else None
    if args.district and within is None:
        voice.say(N_("There is no unit with the code {code}."), err=True, code=args.district)
        db.dispose()
        return 2
    lines = preview(db, settings, at, voice.t, within)
    db.dispose()
    print("\n".join(lines))
    return 0


def _short(text: str, limit: int = 120) -> str:
    text = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())  # no terminal escapes
    return text if len(text) <= limit else text[: limit - 1] + "…"


ZALO_PKCE_KEY = "zalo.pkce"  # the pending consent's verifier and state, between the link and the code


def cmd_zalo(settings, args, voice) -> int:
    return {"connect": cmd_zalo_connect, "status": cmd_zalo_status}[args.zalo_command](settings, args, voice)


def cmd_zalo_connect(settings, args, voice) -> int:
    """First authorisation with PKCE: print the consent link (its verifier kept in the database),
    then exchange the code the admin brings back (typed here, or `--code` in a second run)."""
    import json
    import secrets

    from chidoan.bot.channels.zalo_tokens import consent_url, pkce
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    if not settings.zalo_oa_app_id or settings.zalo_oa_app_secret is None:
        voice.say(
            N_("Set ZALO_OA_APP_ID and ZALO_OA_APP_SECRET (the app's page on developers.zalo.me) first."), err=True
        )
        return 2
    db = _db(settings)
    try:
        pasted = args.code
        if pasted is None:
            redirect_uri = args.redirect_uri or settings.zalo_oa_redirect_uri
            if not redirect_uri:
                voice.say(
                    N_(
                        "Set ZALO_OA_REDIRECT_URI (the callback address registered for the app) or pass --redirect-uri."
                    ),
                    err=True,
                )
                return 2
            verifier, challenge = pkce()
            state = secrets.token_urlsafe(16)
            pending = {"verifier": verifier, "state": state, "at": utcnow().isoformat()}
            with unit_of_work(db) as uow:
                uow.kv.put(ZALO_PKCE_KEY, json.dumps(pending))
            voice.say(N_("1. Open this link logged in as an admin of the Official Account, and allow the app:"))
            print(f"   {consent_url(settings, redirect_uri=redirect_uri, challenge=challenge, state=state)}")
            voice.say(
                N_(
                    "2. Zalo then sends the browser to the callback address with ?code=… in it (the page itself\n"
                    "   may show nothing). Copy the code, or the whole address."
                )
            )
            if not sys.stdin.isatty():
                voice.say(N_("3. Run: chidoan zalo connect --code CODE"))
                return 0
            pasted = input(voice.t(N_("3. Paste it here: ")))
        return _zalo_exchange(settings, db, pasted, voice)
    finally:
        db.dispose()


def _zalo_exchange(settings, db, pasted: str, voice) -> int:
    import json

    from chidoan.bot.channels.zalo_tokens import TokenError, ZaloTokens
    from chidoan.storage.uow import unit_of_work

    code, state = _code_and_state(pasted)
    with unit_of_work(db) as uow:
        saved = uow.kv.get(ZALO_PKCE_KEY)
    pending = json.loads(saved) if saved else None
    if pending is None:
        voice.say(N_("No consent link is waiting for a code: run `chidoan zalo connect` first."), err=True)
        return 1
    if not code:
        voice.say(N_("No code found in what was given."), err=True)
        return 1
    if state is not None and state != pending["state"]:
        voice.say(N_("That address belongs to another consent link (its state differs): use the newest one."), err=True)
        return 1

    async def exchange():
        tokens = ZaloTokens(settings, db)
        try:
            return await tokens.connect(code, pending["verifier"])
        finally:
            await tokens.stop()

    try:
        expires_at = asyncio.run(exchange())
    except TokenError as exc:
        voice.say(N_("Zalo did not authorise the app: {reason}"), err=True, reason=str(exc))
        return 1
    with unit_of_work(db) as uow:
        uow.kv.put(ZALO_PKCE_KEY, "")  # a verifier serves one code
    voice.say(
        N_(
            "Connected. The access token is valid until {expires} ({zone}); the bot renews it when less than {hours} hours are left."
        ),
        expires=f"{expires_at.astimezone(settings.tz):%d/%m/%Y %H:%M}",
        zone=settings.timezone,
        hours=f"{settings.zalo_oa_refresh_margin_hours:g}",
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


def cmd_zalo_status(settings, _args, voice) -> int:
    """The token's age, expiry, last refresh and last error (never the token), and the webhook's
    health as the newest Zalo event received. Exit status 1 when something needs an admin."""
    from chidoan.bot.channels.zalo_tokens import CHANNEL
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    db = _db(settings)
    with unit_of_work(db) as uow:
        token = uow.tokens.get(CHANNEL)
        event = uow.events.latest(CHANNEL)
        failed = uow.events.latest(CHANNEL, failed=True)
    db.dispose()
    now = utcnow()

    def when(moment) -> str:
        return f"{moment.astimezone(settings.tz):%d/%m/%Y %H:%M}"

    healthy = token is not None
    if token is None:
        voice.say(N_("Zalo token: none yet; run `chidoan zalo connect`."))
    else:
        expired = token.expires_at <= now
        failing = token.last_error_at is not None and token.last_error_at > token.refreshed_at
        healthy = not expired and not failing
        voice.say(N_("Zalo token ({zone}):"), zone=settings.timezone)
        voice.say(
            N_("  last refresh: {at} (age {age})"),
            at=when(token.refreshed_at),
            age=_span(now - token.refreshed_at, voice),
        )
        left = (
            voice.t(N_("EXPIRED {span} ago"), span=_span(now - token.expires_at, voice))
            if expired
            else voice.t(N_("in {span}"), span=_span(token.expires_at - now, voice))
        )
        voice.say(
            N_("  expires:      {at} ({left}); renewed when less than {hours} h are left"),
            at=when(token.expires_at),
            left=left,
            hours=f"{settings.zalo_oa_refresh_margin_hours:g}",
        )
        if token.last_error_at is None:
            voice.say(N_("  last error:   none"))
        else:
            voice.say(
                N_("  last error:   {at}: {error}")
                if failing
                else N_("  last error:   {at}: {error} (a refresh has succeeded since)"),
                at=when(token.last_error_at),
                error=_short(token.last_error or ""),
            )
    if event is None:
        voice.say(N_("Webhook: no Zalo event received yet."))
    else:
        voice.say(
            N_("Webhook: last Zalo event received {at} ({span} ago)."),
            at=when(event.received_at),
            span=_span(now - event.received_at, voice),
        )
    if failed is not None:
        voice.say(N_("  newest failed Zalo event: {at} (see `chidoan failed`)."), at=when(failed.failed_at))
    return 0 if healthy else 1


def _span(delta, voice) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return voice.t(N_("{days} d {hours} h"), days=days, hours=hours)
    if hours:
        return voice.t(N_("{hours} h {minutes} min"), hours=hours, minutes=minutes)
    return voice.t(N_("{minutes} min"), minutes=minutes) if minutes else voice.t(N_("under a minute"))


def _unit_or_complain(db, code: str, voice):
    from chidoan.storage.uow import unit_of_work

    with unit_of_work(db) as uow:
        unit = _find_unit(uow, code)
    if unit is None:
        voice.say(N_("There is no unit with the code {code}."), err=True, code=code)
    return unit


def cmd_export(settings, args, voice) -> int:
    from tqdm import tqdm

    from chidoan.exports.xlsx import export

    db = _db(settings)
    try:
        unit = _unit_or_complain(db, args.district, voice)
        if unit is None:
            return 2
        read, render = standalone(db)
        with tqdm(total=0, unit="units", disable=args.quiet, desc=unit.code) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            content = asyncio.run(export(read, render, unit.id, args.year, settings, progress=progress))
    finally:
        db.dispose()
    args.out.write_bytes(content)
    voice.say(N_("{file}: {size} bytes"), file=str(args.out), size=f"{len(content):,}".replace(",", "."))
    return 0


def cmd_document(settings, args, voice) -> int:
    from chidoan.documents.gather import compiled_document, decision_document
    from chidoan.documents.review import render_compiled, render_decision
    from chidoan.programmes.loader import programme_for, programmes
    from chidoan.storage.clock import utcnow
    from chidoan.storage.models import UnitKind

    programme = programme_for(programmes(settings), args.year, UnitKind.base_unit)
    if programme is None:
        voice.say(N_("No programme covers the plan year {year}."), err=True, year=args.year)
        return 2
    db = _db(settings)
    try:
        unit = _unit_or_complain(db, args.unit, voice)
        if unit is None:
            return 2
        if not unit.reviews:
            voice.say(N_("{code} does not review the units below it."), err=True, code=unit.code)
            return 2
        read, _render = standalone(db)
        today = utcnow().astimezone(settings.tz).date()
        if args.document_command == "compiled":
            compiled = asyncio.run(compiled_document(read, unit.id, programme, args.year, today, settings))
            content = render_compiled(compiled)
            summary = voice.t(
                N_("{registered} of {expected} units registered"),
                registered=compiled.registered,
                expected=compiled.expected,
            )
        else:
            decision = asyncio.run(decision_document(read, unit.id, programme, args.year, today, settings))
            if not decision.units:
                voice.say(
                    N_("No unit reviewed by {code} has passed for {year}: nothing written."),
                    code=unit.code,
                    year=args.year,
                )
                return 1
            content = render_decision(decision)
            summary = voice.t(N_("{n} units passed"), n=len(decision.units))
    finally:
        db.dispose()
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
    "data": cmd_data,
    "backup": cmd_backup,
    "restore": cmd_restore,
}

if __name__ == "__main__":
    raise SystemExit(main())
