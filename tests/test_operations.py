"""Operations (issue 12): /healthz and /metrics of a running App, the admins' alerts in chat, the
log (JSON lines, no token, no message text), `chidoan backup` and `restore` while the App writes,
and the Docker image's commands being the ones these tests run."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from chidoan.bot import logs
from chidoan.bot.alerts import BACKLOG, FAILED_EVENTS, GIVEN_UP, LEADER_LOST, TOKEN_REFUSED, UNREADABLE_FILES
from chidoan.bot.app import App
from chidoan.bot.cli import main as cli
from chidoan.engine.dispatch import outbox_row
from chidoan.engine.messages import Attachment, Incoming, Outgoing
from chidoan.i18n import gettext
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import ChannelIdentity, InboundEvent, Outbox, OutboxStatus, Reminder, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import ROOT, WebUser, add_member, command_env, make_settings, seed_org
from tests.test_reminders import bind_people, local
from tests.test_telegram import TgUser, tg_settings, until

OUT = Outbox.__table__
EVENT = InboundEvent.__table__


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """The samples of a /metrics answer by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def get(app: App, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.settings.web_port}{path}") as response,
    ):
        return response.status, await response.text()


def queue(db, chat_id: str, *, age: timedelta, channel: str = "telegram") -> None:
    """An outbox row due since `age` ago, which stays due: the App runs no Telegram channel."""
    when = datetime.now(UTC) - age
    with unit_of_work(db) as uow:
        uow.outbox.add_many([outbox_row(channel, chat_id, None, Outgoing("x"), when)])


def admin_rows(db, key: str) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(OUT).where(OUT.c.dedupe_key.like(f"{key}%")).order_by(OUT.c.id)))


# ---- /healthz ---------------------------------------------------------------------------------


async def test_healthz_tells_the_database_the_leader_and_the_backlog(app, db):
    status, body = await get(app, "/healthz")
    health = json.loads(body)
    assert status == 200 and health["ok"] is True
    assert health["database"]["reachable"] is True and 0 <= health["database"]["latency_ms"] < 3000
    assert health["leader"]["held"] is True and health["leader"]["since"]  # SQLite: this worker leads, since its start
    assert health["outbox"] == {"pending": 0, "oldest_due_seconds": 0}

    queue(db, "nobody-listens", age=timedelta(minutes=7))
    queue(db, "nobody-listens", age=timedelta(minutes=2))
    health = json.loads((await get(app, "/healthz"))[1])
    assert health["outbox"]["pending"] == 2
    assert 7 * 60 - 5 <= health["outbox"]["oldest_due_seconds"] <= 7 * 60 + 60

    held, since = app.leader.held, app.leader.since
    app.leader.held, app.leader.since = False, datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    health = json.loads((await get(app, "/healthz"))[1])
    app.leader.held, app.leader.since = held, since
    assert health["leader"] == {"held": False, "since": "2026-11-29T08:00:00+00:00"}


async def test_healthz_is_503_without_the_database_and_says_so(app):
    app.processor.db = app.db.__class__  # anything that fails: the database is gone
    try:
        status, body = await get(app, "/healthz")
    finally:
        app.processor.db = app.db
    assert status == 503 and json.loads(body)["database"] == {"reachable": False}


def test_the_backlog_reads_the_first_due_row_of_each_priority(db):
    """A row claimed by a sender (not due for a minute) and a newer due notice: the notice is the
    oldest due; rows sent or failed do not count."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        reply = outbox_row("web", "a", None, Outgoing("r"), now - timedelta(minutes=30))
        notice = outbox_row("web", "b", None, Outgoing("n"), now - timedelta(minutes=10), kind="notice")
        sent = outbox_row("web", "c", None, Outgoing("s"), now - timedelta(hours=5)) | {"status": "sent"}
        uow.outbox.add_many([reply | {"not_before": now + timedelta(minutes=1)}, notice, sent])
    with unit_of_work(db) as uow:
        pending, oldest = uow.outbox.backlog(now)
    assert pending == 2 and oldest == now - timedelta(minutes=10)


async def test_health_and_alerts_on_postgresql(pg_url):
    """The backlog's and the failures' reads on PostgreSQL, through a running App: /healthz, and
    an alert queued once for two checks."""
    settings = make_settings(pg_url)
    app = App(settings)
    await app.start()
    try:
        seed_org(app.db)
        add_member(app.db, "pgadm", "Quản Trị", "KG", Role.admin, locale="en")
        queue(app.db, "nobody-listens", age=timedelta(minutes=settings.alert_backlog_minutes + 1))
        fail_events(app.db, settings.alert_failed_events)
        health = json.loads((await get(app, "/healthz"))[1])
        assert health["outbox"]["pending"] == 1 and health["outbox"]["oldest_due_seconds"] >= 60 * 16
        assert await app.alerts.check() == 2  # the backlog and the failed events, on the admin's web chat
        assert await app.alerts.check() == 0
    finally:
        await app.stop()


# ---- /metrics ---------------------------------------------------------------------------------


async def test_metrics_count_updates_latency_sends_and_the_backlog(settings, org, db):
    add_member(db, "m1", "Minh", "RG-VB", Role.secretary)
    first, second = App(settings), App(make_settings(settings.database_url))  # one registry each
    await first.start()
    try:
        async with WebUser(first, "m1") as user:
            await user.say("/giupdo")
            await user.say("/giupdo")
        queue(db, "nobody-listens", age=timedelta(minutes=3))
        status, body = await get(first, "/metrics")
    finally:
        await first.stop()
        second.db.dispose()
    assert status == 200
    samples = scrape(body)
    web = (("channel", "web"),)
    assert samples[("chidoan_updates_received_total", web)] == 2
    assert samples[("chidoan_updates_handled_total", (("channel", "web"), ("outcome", "new")))] == 2
    assert samples[("chidoan_handler_seconds_count", web)] == 2
    assert samples[("chidoan_messages_sent_total", web)] >= 2
    assert samples[("chidoan_outbox_pending", ())] == 1
    assert 170 <= samples[("chidoan_outbox_oldest_due_seconds", ())] <= 300
    assert samples[("chidoan_leader", ())] == 1
    assert samples[("chidoan_database_up", ())] == 1
    assert not [name for name, _labels in samples if name.endswith("_created")]  # twice the series, unused
    others = scrape(second.metrics.exposition((0, None), datetime.now(UTC), True).decode())
    assert not [k for k in others if k[0] == "chidoan_updates_received_total"]  # its own registry


async def test_metrics_are_shown_without_the_database(app, db):
    queue(db, "nobody-listens", age=timedelta(minutes=1))
    assert scrape((await get(app, "/metrics"))[1])[("chidoan_outbox_pending", ())] == 1
    app.processor.db = app.db.__class__  # anything that fails: the database is gone
    try:
        status, body = await get(app, "/metrics")
    finally:
        app.processor.db = app.db
    samples = scrape(body)
    assert status == 200 and samples[("chidoan_database_up", ())] == 0
    assert samples[("chidoan_outbox_pending", ())] == 1  # as last read


async def test_metrics_count_a_duplicate_delivery_as_such(app):
    incoming = Incoming(channel="web", event_id="dup-1", user_id="d", chat_id="d", text="/start")
    assert await app.host.submit(incoming) is True
    assert await app.host.submit(incoming) is False
    samples = scrape(app.metrics.exposition((0, None), datetime.now(UTC), True).decode())
    assert samples[("chidoan_updates_handled_total", (("channel", "web"), ("outcome", "duplicate")))] == 1


@pytest.mark.parametrize("child", [False, True], ids=["on the database thread", "in a child process"])
async def test_metrics_count_reminders_per_stage(database_url, child):
    settings = make_settings(
        database_url,
        CHIDOAN_SWEEP_PROCESS=child,
        CHIDOAN_REMINDERS=True,
        CHIDOAN_OBLIGATIONS_FROM="2026-09-01",
    )
    db = make_db(settings.database_url)
    upgrade(db)
    seed_org(db)
    bind_people(db)
    app = App(settings)
    try:
        season = await app.sweeps.reminders(local(2026, 10, 7, 9, 0))
    finally:
        await app.sweeps.stop()
        await app.processor.stop()
        app.db.dispose()
    with db.connect() as conn:
        table = Reminder.__table__
        made = Counter(dict(conn.execute(select(table.c.stage, func.count()).group_by(table.c.stage)).all()))
    db.dispose()
    assert season.created > 0 and sum(made.values()) == season.created
    samples = scrape(app.metrics.exposition((0, None), datetime.now(UTC), True).decode())
    counted = {dict(k[1])["stage"]: v for k, v in samples.items() if k[0] == "chidoan_reminders_queued_total"}
    assert counted == dict(made)  # every stage the sweep made, as many as it made


# ---- alerts -----------------------------------------------------------------------------------


@pytest.fixture
def admin(db, org):
    """An admin with a web chat and a Telegram chat."""
    account_id = add_member(db, "adm", "Quản Trị", "KG", Role.admin, locale="en")
    with unit_of_work(db) as uow:
        uow.conn.execute(
            ChannelIdentity.__table__.insert().values(
                account_id=account_id,
                channel="telegram",
                external_id="900",
                chat_id="900",
                created_at=datetime.now(UTC),
            )
        )
    return account_id


def fail_events(db, n: int, first: int = 0) -> None:
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        for i in range(first, first + n):
            uow.events.record_failed(
                error="boom",
                raw=None,
                now=now,
                channel="web",
                event_id=f"f{i}",
                account_id=None,
                kind="message",
                text="words",
                payload=None,
            )


async def test_failed_events_piling_up_are_told_to_the_admins_once_a_period(app, db, admin):
    fail_events(db, app.settings.alert_failed_events - 1)
    assert await app.alerts.check() == 0
    fail_events(db, 1, first=app.settings.alert_failed_events)
    assert await app.alerts.check() == 2  # the admin's web chat and Telegram
    assert await app.alerts.check() == 0  # once per period
    rows = admin_rows(db, "alert:failed-events:")
    assert {r.channel for r in rows} == {"web", "telegram"}
    text = Outgoing.from_body(rows[0].body).text
    assert text == gettext("en", FAILED_EVENTS, count=app.settings.alert_failed_events, hours="6")


async def test_messages_given_up_piling_up_are_told(app, db, admin):
    """Rows failed after every retry within the period count; an old failure does not."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        row = outbox_row("telegram", "gone", None, Outgoing("x"), now) | {"status": "failed"}
        uow.outbox.add_many([row | {"not_before": now - timedelta(hours=7)}])
        uow.outbox.add_many([row] * (app.settings.alert_failed_events - 1))
    assert await app.alerts.check() == 0
    with unit_of_work(db) as uow:
        uow.outbox.add_many([row])
    assert await app.alerts.check() == 2
    [text] = {Outgoing.from_body(r.body).text for r in admin_rows(db, "alert:given-up:")}
    assert text == gettext("en", GIVEN_UP, count=app.settings.alert_failed_events, hours="6")


async def test_a_missing_stored_file_fails_its_message_at_once_and_is_told_by_name(app, db, admin):
    """A message whose file is gone from the store: given up at once (no retries holding the
    chat's next messages back), the admins told which file, and its download link answers a
    polite page, not a bare 500."""
    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        document_id = uow.documents.add(kind="upload", filename="bien-ban.pdf", content=b"%PDF-1.4 gone", now=now)
        document = uow.documents.one(document_id)
    (Path(app.settings.files_dir) / document.storage_key).unlink()
    async with WebUser(app, "w1", language="en") as user:
        with unit_of_work(db) as uow:
            with_file = Outgoing("the minutes", attachment=Attachment(document_id, "bien-ban.pdf"))
            uow.outbox.add_many(
                [outbox_row("web", "w1", None, with_file, now), outbox_row("web", "w1", None, Outgoing("next"), now)]
            )
        app.sender.wake()
        rows = await settled_rows(db, "w1")
        assert [(r.status, r.attempts, r.error) for r in rows] == [
            ("failed", 1, f"stored file unreadable: {document.storage_key}"),
            ("sent", 1, None),
        ]
        assert (await asyncio.wait_for(user.ws.receive_json(), 5))["text"] == "next"
    assert await app.alerts.check() == 2
    [text] = {Outgoing.from_body(r.body).text for r in admin_rows(db, "alert:unreadable-files:")}
    assert text == gettext("en", UNREADABLE_FILES, hours="6", files=document.storage_key)
    assert admin_rows(db, "alert:given-up:") == []  # not "the bot may not reach Telegram or Zalo"

    url = f"http://127.0.0.1:{app.settings.web_port}/files/{document.token}"
    (Path(app.settings.files_dir) / document.storage_key).write_bytes(b"%PDF-1.4 damaged")
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 410 and response.content_type == "text/html"
            assert "Tệp này hiện không đọc được" in await response.text()
        (Path(app.settings.files_dir) / document.storage_key).unlink()
        async with session.get(url) as response:
            assert response.status == 410 and "không đọc được" in await response.text()


async def settled_rows(db, chat_id: str, timeout: float = 10.0) -> list:
    """The chat's outbox rows once none is pending (or as they are at `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.connect() as conn:
            rows = conn.execute(select(OUT).where(OUT.c.chat_id == chat_id).order_by(OUT.c.id)).all()
        if all(r.status != "pending" for r in rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_an_old_backlog_is_told_to_the_admins(app, db, admin):
    queue(db, "nobody-listens", age=timedelta(minutes=app.settings.alert_backlog_minutes - 1))
    assert await app.alerts.check() == 0
    with unit_of_work(db) as uow:  # waited longer now
        older = datetime.now(UTC) - timedelta(minutes=app.settings.alert_backlog_minutes + 2)
        uow.conn.execute(update(OUT).values(created_at=older))
    assert await app.alerts.check() == 2
    [text] = {Outgoing.from_body(r.body).text for r in admin_rows(db, "alert:backlog:")}
    minutes = app.settings.alert_backlog_minutes + 2
    assert text in {gettext("en", BACKLOG, pending=p, minutes=m) for p in (1, 2) for m in (minutes, minutes + 1)}


async def test_losing_the_leadership_is_told(app, db, admin):
    assert app.leader.held
    assert await app.alerts.check() == 0
    app.leader.held = False
    try:
        assert await app.alerts.check() == 2
        assert await app.alerts.check() == 0
    finally:
        app.leader.held = True
    [row, _] = admin_rows(db, "alert:leader:")
    assert Outgoing.from_body(row.body).text.startswith(gettext("en", LEADER_LOST, time="")[:40])


async def test_a_refused_telegram_token_is_counted_and_told_on_the_other_app(settings, org, db, tg, admin):
    """Telegram answers 401: the reply waits (not a failed attempt), /metrics counts it, and the
    admins are told in the web chat, not on Telegram, where it could not arrive."""
    app = App(tg_settings(settings, tg))
    await app.start()
    try:
        user = TgUser(tg, db, 4242)
        await user.say("/start")  # answered: the token works
        tg.token = "7001002003:another-token"  # revoked at BotFather
        tg.push_update(user.message("/giupdo"))
        # The row's outcome is committed a moment before the sender counts it (after the chat's round).
        await until(lambda: admin_rows_failed(db) and app.metrics.token_refusals["telegram"], what="a send refused")
        told = await app.alerts.check()
    finally:
        await app.stop()
    assert told == 1
    [row] = admin_rows(db, "alert:token-telegram:")
    assert row.channel == "web" and Outgoing.from_body(row.body).text == gettext(
        "en", TOKEN_REFUSED, platform="Telegram"
    )
    refused = admin_rows_failed(db)[0]
    assert refused.status == OutboxStatus.pending and refused.attempts == 0
    samples = scrape(app.metrics.exposition((0, None), datetime.now(UTC), True).decode())
    assert samples[("chidoan_messages_failed_total", (("channel", "telegram"), ("reason", "token")))] >= 1


def admin_rows_failed(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(OUT).where(OUT.c.error.like("token refused%"))))


# ---- logs -------------------------------------------------------------------------------------


@contextmanager
def logged(formatter: logging.Formatter, level: int) -> Iterator[io.StringIO]:
    """What is logged meanwhile at `level` or above, formatted. The root's level is set with
    setLevel, not assigned: a logger caches what it was asked whether to log (logging's
    isEnabledFor), and only setLevel clears that; assigned, a logger that was asked at
    WARNING before (by an earlier test) would go on dropping INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def test_the_log_captured_has_what_a_logger_left_out_before():
    quiet = logging.getLogger("chidoan.bot.processor")
    with logged(logs.formatter("text"), logging.WARNING) as stream:
        quiet.info("left out")  # asked at WARNING: no
    assert stream.getvalue() == ""
    with logged(logs.formatter("text"), logging.INFO) as stream:
        quiet.info("kept")
    assert "kept" in stream.getvalue()


async def test_the_log_never_holds_the_token_nor_what_people_write(settings, org, db, tg):
    """A whole conversation on Telegram at DEBUG, as JSON lines, with an error that quotes the Bot
    API's URL (the token is in it, as aiohttp's errors quote it): no token, no message text."""
    secret_text = "Nguyễn Văn Bí Mật 0912345678"
    app_settings = tg_settings(settings, tg, CHIDOAN_LOG_FORMAT="json")
    with logged(logs.formatter(app_settings.log_format, logs.secrets_of(app_settings)), logging.DEBUG) as stream:
        app = App(app_settings)
        await app.start()
        try:
            user = TgUser(tg, db, 5151)
            await user.say("/start")
            await user.say(secret_text)
            url = f"{tg.base_url}/bot{tg.token}/sendMessage"
            try:
                raise aiohttp.InvalidURL(url)
            except aiohttp.InvalidURL:
                logging.getLogger("aiogram.test").exception("request to %s failed", url)
        finally:
            await app.stop()
    written = stream.getvalue()
    lines = [json.loads(line) for line in written.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("request to" in line["message"] and "exc_info" in line for line in lines)
    assert tg.token not in written and tg.token.split(":")[1] not in written
    assert secret_text not in written and "0912345678" not in written


async def test_a_handler_error_quoting_what_a_person_wrote_is_logged_without_it(app, db, monkeypatch):
    """A bug that fails on a person's text and quotes it, in a batch and alone (the processor
    logs the first, the engine the second): the log has the error, not the text."""
    add_member(db, "h1", "Hạnh", "RG-VB", Role.secretary)
    secret_text = "Trần Thị Hạnh, 0987654321\nở Rạch Giá"

    def broken(self, ctx, state, text):
        if ctx.incoming.text == secret_text:
            int(ctx.incoming.text)  # ValueError: invalid literal for int() with base 10: '…'
        return route(self, ctx, state, text)

    from chidoan.engine.dispatch import Engine

    route = Engine._route
    monkeypatch.setattr(Engine, "_route", broken)
    with logged(logs.formatter("json"), logging.INFO) as stream:
        async with WebUser(app, "h1") as user:
            await user.say(secret_text)
    written = stream.getvalue()
    assert "invalid literal for int()" in written and "handler failed on web event" in written
    assert "batch of 1 failed" in written
    assert "0987654321" not in written and "Trần Thị Hạnh" not in written


def test_redaction_catches_any_telegram_token_and_configured_secrets():
    fmt = logs.formatter("text", ["my-webhook-secret-value", "short"])
    url = "https://api.telegram.org/bot123456789:" + "A" * 35 + "/getMe"
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%s %s short", (url, "my-webhook-secret-value"), None)
    assert fmt.format(record).endswith(": https://api.telegram.org/bot***/getMe *** short")


def test_the_command_writes_json_lines_when_asked(tmp_path):
    env = command_env(CHIDOAN_DATA_DIR=str(tmp_path), CHIDOAN_LOG_FORMAT="json", CHIDOAN_LOG_LEVEL="DEBUG")
    done = subprocess.run(
        [sys.executable, "-m", "chidoan", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["level"] in {"DEBUG", "INFO", "WARNING"} for line in lines)
    assert not [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("{")]


# ---- backup and restore -----------------------------------------------------------------------


@pytest.mark.sqlite_only("chidoan backup copies a SQLite database; PostgreSQL's is pg_dump (README)")
async def test_backup_while_the_app_writes_then_restore_and_open(app, db, settings, tmp_path, monkeypatch):
    files = Path(settings.files_dir)
    files.mkdir(parents=True, exist_ok=True)
    (files / "doc-1").write_bytes(b"%PDF-1.4 the report")
    (files / "doc-2.tmp-1a2b3c4d").write_bytes(b"a write under way")  # not a file yet: left out
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(files))
    stop = asyncio.Event()

    async def write() -> int:
        n = 0
        while not stop.is_set():
            await app.host.submit(Incoming(channel="web", event_id=f"w{n}", user_id="w", chat_id="w", text="/giupdo"))
            n += 1
        return n

    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    archive = tmp_path / "out" / "backup.tar.gz"
    folder_dest = tmp_path / "folders"
    assert await asyncio.to_thread(cli, ["backup", str(archive)]) == 0
    assert await asyncio.to_thread(cli, ["backup", str(folder_dest)]) == 0
    stop.set()
    written = await writer
    assert written > 0
    [folder] = list(folder_dest.iterdir())
    assert re.fullmatch(r"chidoan-\d{8}-\d{6}", folder.name)
    assert [p.name for p in (folder / "files").iterdir()] == ["doc-1"]
    assert (folder / "files" / "doc-1").read_bytes() == b"%PDF-1.4 the report"
    with sqlite3.connect(folder / "chidoan.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        backed_up = conn.execute("SELECT count(*) FROM inbound_event WHERE event_id LIKE 'w%'").fetchone()[0]
    assert 0 < backed_up <= written
    with tarfile.open(archive) as tar:
        assert any(name.endswith("chidoan.sqlite3") for name in tar.getnames())

    # Restored elsewhere: the database opens with the rows it held, the files are back.
    target = tmp_path / "restored"
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", f"sqlite:///{target}/chidoan.sqlite3")
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(target / "files"))
    assert await asyncio.to_thread(cli, ["restore", str(archive)]) == 0
    assert (target / "files" / "doc-1").read_bytes() == b"%PDF-1.4 the report"
    assert await asyncio.to_thread(cli, ["restore", str(archive)]) == 1  # exists: --replace needed
    restored = App(make_settings(f"sqlite:///{target}/chidoan.sqlite3"))
    try:
        with unit_of_work(restored.db) as uow:
            assert (
                uow.conn.execute(
                    select(func.count()).select_from(EVENT).where(EVENT.c.event_id.like("w%"))
                ).scalar_one()
                > 0
            )
    finally:
        restored.db.dispose()


def test_backup_on_postgresql_runs_pg_dump_and_restore_says_how(pg_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", pg_url)
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(tmp_path / "files"))
    assert cli(["migrate"]) == 0
    assert cli(["--lang", "en", "backup", str(tmp_path / "b")]) == 0
    [folder] = list((tmp_path / "b").iterdir())
    listing = subprocess.run(["pg_restore", "--list", str(folder / "chidoan.dump")], capture_output=True, text=True)
    assert listing.returncode == 0 and "TABLE public outbox" in listing.stdout
    assert cli(["--lang", "en", "restore", str(folder)]) == 1
    assert "pg_restore --clean --if-exists --no-owner" in capsys.readouterr().out


def test_restore_into_a_new_folder_does_not_announce_an_empty_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", f"sqlite:///{tmp_path}/live/chidoan.sqlite3")
    assert cli(["migrate"]) == 0
    assert cli(["backup", str(tmp_path / "b")]) == 0
    [folder] = list((tmp_path / "b").iterdir())
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", f"sqlite:///{tmp_path}/new/chidoan.sqlite3")
    capsys.readouterr()
    assert cli(["--lang", "en", "restore", str(folder)]) == 0
    said = capsys.readouterr().err
    assert "Database: " in said and "empty" not in said


def test_the_database_password_is_neither_on_pg_dumps_command_line_nor_printed(pg_url, tmp_path, monkeypatch, capsys):
    url = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", url)
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(tmp_path / "files"))
    assert cli(["migrate"]) == 0  # trust authentication: the password is not checked, only carried
    ran = []
    real_run = subprocess.run

    def run(command, **kwargs):
        ran.append((command, kwargs["env"]))
        return real_run(command, **kwargs)

    monkeypatch.setattr("chidoan.bot.backup.subprocess.run", run)
    assert cli(["--lang", "en", "backup", str(tmp_path / "b")]) == 0
    [(command, env)] = ran
    assert command[0] == "pg_dump" and not [arg for arg in command if "s3cret-pw" in arg]
    assert env["PGPASSWORD"] == "s3cret-pw"
    [folder] = list((tmp_path / "b").iterdir())
    assert (folder / "chidoan.dump").stat().st_size > 0
    assert cli(["--lang", "en", "restore", str(folder)]) == 1
    said = capsys.readouterr()
    assert f"--dbname {make_url(pg_url).set(drivername='postgresql').render_as_string()}" in said.out
    assert str(folder / "chidoan.dump") in said.out  # the backup's own dump, not a bare name
    assert "s3cret-pw" not in said.out + said.err


def test_without_pg_dump_the_backup_still_copies_the_files_and_says_what_to_run(pg_url, tmp_path, monkeypatch, capsys):
    """The Docker image has no pg_dump: the file store is copied all the same, and one line says
    the database is not in it, and how to dump it (no password)."""
    url = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    files = tmp_path / "files"
    (files / "2026" / "11").mkdir(parents=True)
    (files / "2026" / "11" / "abc").write_bytes(b"%PDF-1.4 the report")
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", url)
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(files))
    assert cli(["migrate"]) == 0
    monkeypatch.setattr("chidoan.bot.backup.shutil.which", lambda _name: None)
    assert cli(["--lang", "en", "backup", str(tmp_path / "b")]) == 1
    [folder] = list((tmp_path / "b").iterdir())
    assert (folder / "files" / "2026" / "11" / "abc").read_bytes() == b"%PDF-1.4 the report"
    assert not (folder / "chidoan.dump").exists()
    said = capsys.readouterr()
    assert "pg_dump is not installed here" in said.err and "pg_dump --format=custom" in said.err
    assert "without the database" in said.err and "s3cret-pw" not in said.out + said.err
    # Dumped another way (the database's container): the files only, and a success.
    assert cli(["--lang", "en", "backup", "--files-only", str(tmp_path / "c")]) == 0
    [folder] = list((tmp_path / "c").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["files"]


# ---- the Docker image -------------------------------------------------------------------------


def test_the_image_runs_the_commands_the_tests_run():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert cmd == ["chidoan", "run"]
    assert re.search(r"^USER chidoan$", dockerfile, re.M)
    env = dict(re.findall(r"(CHIDOAN_\w+)=(\S+)", re.search(r"^ENV (.+?)\n\n", dockerfile, re.M | re.S).group(1)))
    assert env["CHIDOAN_LOG_FORMAT"] == "json" and env["CHIDOAN_FILES_DIR"] == "/data/files"
    assert "--require-hashes" in dockerfile and "requirements/run.txt" in dockerfile
    # The folders the volumes are mounted on belong to the image's user (a new volume copies them).
    assert re.search(r"mkdir -p /data/files \\\n\s+&& chown -R chidoan:chidoan /data", dockerfile)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["chidoan", "migrate"]
    assert services["bot"]["command"] == cmd
    assert services["bot"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["bot"]["ports"] == ["127.0.0.1:8080:8080"]  # behind the host's proxy, not on every interface
    for name in ("migrate", "bot"):
        assert set(services[name]["volumes"]) == {"data:/data", "files:/data/files"}
        assert services[name]["environment"]["CHIDOAN_FILES_DIR"] == env["CHIDOAN_FILES_DIR"]
        assert services[name]["environment"]["CHIDOAN_DATABASE_URL"].startswith("postgresql://")


def test_the_installed_package_has_every_file_the_code_reads(tmp_path):
    """The image installs the package (not editable, as the tests run it): a data file missing
    from package-data (reminders/policy.yaml was) crashes the installed bot. The wheel is built
    from the tracked files, as `pip install .` in the Dockerfile builds it."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    source = tmp_path / "src"
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w", "whl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = list((tmp_path / "whl").glob("chidoan-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
    data = {
        name
        for name in tracked.decode().split("\0")
        if name.startswith("chidoan/") and not name.endswith((".py", ".pot"))  # .pot: the translators' template
    }
    assert data and data - packed == set()


async def test_the_images_health_check_passes_against_a_running_app(app):
    """The HEALTHCHECK's command, as the image runs it (CHIDOAN_WEB_PORT from the image's ENV)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    check = re.search(r'^HEALTHCHECK .*? CMD \["python", "-c", (".*")\]$', dockerfile, re.M)
    assert check, "the HEALTHCHECK is the exec form of python -c"
    program = json.loads(check.group(1))
    env = command_env(CHIDOAN_WEB_PORT=str(app.settings.web_port))
    ok = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", program], env=env, timeout=30)
    assert ok.returncode == 0
    app.processor.db = app.db.__class__  # the database gone: the check fails, Docker restarts it
    try:
        bad = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", program], env=env, capture_output=True, timeout=30
        )
    finally:
        app.processor.db = app.db
    assert bad.returncode != 0
