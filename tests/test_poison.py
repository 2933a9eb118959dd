"""No poison update (issue 7, part 3): what a platform sends is clipped and cleaned at the door;
an event the database keeps refusing is kept as failed (a dead letter) after a bounded number of
tries, its sender gets one apology, and neither polling nor the webhook is held up by it; a body
that is not JSON, or an update aiogram cannot read, never becomes a 500 Telegram retries
forever; a database that cannot be written is refused at start; /healthz says whether the
database answers. On SQLite and PostgreSQL, in polling and webhook mode, through the fake Bot
API (tests/fake_telegram.py) and the real aiogram client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError

from chidoan.bot.app import App
from chidoan.bot.channels.base import Limits
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import Document, InboundEvent
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, document_bytes, free_port, make_settings, seed_org
from tests.test_telegram import TgUser

E = InboundEvent.__table__
SECRET = "s3cret-Token_42"
LONG_NAME = "Biên bản sinh hoạt chi đoàn " + "rất dài " * 40 + "lần cuối.pdf"  # over 300 characters
APOLOGY = "could not handle your last message"


@pytest.fixture
def database(database_url):
    """A migrated database with the test org tree, on SQLite or on PostgreSQL."""
    url = database_url
    db = make_db(url)
    upgrade(db)
    seed_org(db)
    yield url, db
    db.dispose()


def telegram_app(url: str, tg, *, webhook: bool, engine=None, **extra) -> App:
    values = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url} | extra
    if webhook:
        port = free_port()
        values |= {
            "CHIDOAN_WEB_PORT": port,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
    app = App(make_settings(url, **values), engine=engine)
    app.channels["telegram"].limits = Limits()  # no per-chat pacing: the tests send many messages to one chat
    return app


def failed(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(E).where(E.c.failed_at.is_not(None)).order_by(E.c.id)))


MODES = pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])


# ---- clipped at the door ----------------------------------------------------------------


async def meeting_until_photos(user: TgUser) -> None:
    await user.say("/sinhhoat")
    for answer in ("hôm nay", "1", "Sinh hoạt chi đoàn tháng 11", "12", "10", "Bầu Bí thư chi đoàn"):
        await user.say(answer)
    await user.press("Skip")
    await user.press("Skip")
    assert "Photos of the minutes" in user.text


@MODES
async def test_a_300_character_file_name_is_clipped_and_the_journey_goes_on(database, tg, webhook):
    url, db = database
    add_member(db, "8101", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    app = telegram_app(url, tg, webhook=webhook)
    await app.start()
    try:
        user = TgUser(tg, db, 8101, first_name="Dũng", language="en", webhook=webhook)
        await meeting_until_photos(user)
        assert len(LONG_NAME) > 300
        await user.send_media(document=(LONG_NAME, b"%PDF-1.4 minutes"))
        assert "Received 1 of at most 10" in user.text
        await user.press("Done")
        await user.press("Send the report")
        assert "1 file(s) attached" in user.text
    finally:
        await app.stop()
    with db.connect() as conn:
        [document] = conn.execute(select(Document.__table__))
    assert len(document.filename) <= 128 and document.filename.endswith(".pdf")
    assert document.filename.startswith("Biên bản sinh hoạt chi đoàn rất dài")
    assert document_bytes(db, document.id) == b"%PDF-1.4 minutes"
    assert not failed(db)


# ---- a database error that is not a lost race -------------------------------------------


def poisoned_engine(settings, calls: list):
    """The engine with /toi failing as PostgreSQL does on a value too long for its column."""

    def boom(ctx, args):
        calls.append(ctx.incoming.event_id)
        raise DataError("INSERT INTO document", {}, Exception("value too long for type character varying(128)"))

    engine = build_engine(settings)
    poisoned = dataclasses.replace(engine.command("toi"), run=boom)
    engine._by_name.update({"toi": poisoned, "me": poisoned})
    return engine


@MODES
async def test_a_database_error_is_kept_as_failed_and_the_queue_goes_on(database, tg, webhook, monkeypatch, capsys):
    url, db = database
    calls: list = []
    app = telegram_app(url, tg, webhook=webhook, engine=poisoned_engine(make_settings(url), calls))
    await app.start()
    try:
        poisoned = TgUser(tg, db, 8201, first_name="An", language="en", webhook=webhook)
        update = poisoned.message("/toi")
        await poisoned.send(update)  # webhook: answered 200, not 500 (TgUser.send checks)
        [event] = failed(db)
        assert event.event_id == str(update["update_id"]) and event.text == "/toi"
        assert "value too long" in event.error and event.raw and "/toi" in event.raw
        assert 1 <= len(calls) <= 4  # tried a bounded number of times, then kept as failed
        assert APOLOGY in poisoned.text and len(poisoned.last) == 1

        other = TgUser(tg, db, 8202, first_name="Bình", language="en", webhook=webhook)
        await other.say("/start")  # the next update of another person is handled at once
        assert "invite code" in other.text

        tries = len(calls)
        if webhook:  # Telegram delivers it again: a duplicate, answered 200, no second apology
            assert await tg.deliver_webhook(update) == 200
        else:
            tg.push_update(update)
            await other.say("/trogiup")
        assert len(calls) == tries and len(failed(db)) == 1
        assert await poisoned.replies() == []
    finally:
        await app.stop()
    assert sum(APOLOGY in text for text in tg.sent_texts(8201)) == 1

    # Visible to an admin: `chidoan failed` lists it, newest first.
    from chidoan.bot.cli import main

    monkeypatch.setenv("CHIDOAN_DATABASE_URL", url)
    capsys.readouterr()
    assert main(["--lang", "en", "failed"]) == 0
    listed = capsys.readouterr().out
    assert f"telegram event {update['update_id']}" in listed and "value too long" in listed and "/toi" in listed


@pytest.mark.postgres
async def test_an_unclipped_value_too_long_on_postgresql_does_not_stall_polling(pg_url, tg, monkeypatch):
    """The real thing: the file-name clipping taken out, PostgreSQL refuses the insert."""
    import chidoan.bot.channels.telegram as telegram
    import chidoan.engine.runner as runner

    monkeypatch.setattr(telegram, "clip_filename", lambda name, limit=128: name, raising=False)
    monkeypatch.setattr(runner, "clip_filename", lambda name, limit=128: name, raising=False)
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    add_member(db, "8301", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", channel="telegram", locale="en")
    app = telegram_app(pg_url, tg, webhook=False)
    await app.start()
    try:
        user = TgUser(tg, db, 8301, first_name="Dũng", language="en")
        await meeting_until_photos(user)
        await user.send_media(document=(LONG_NAME, b"%PDF-1.4 minutes"))
        assert APOLOGY in user.text
        [event] = failed(db)
        assert "value too long" in event.error and LONG_NAME[:100] in event.raw

        other = TgUser(tg, db, 8302, language="en")
        await other.say("/start")
        assert "invite code" in other.text
        await user.press("Done")  # and the person's own journey goes on
        assert "Send the report" in str([c.params for c in user.last])
    finally:
        await app.stop()
        db.dispose()


# ---- what aiogram cannot read -----------------------------------------------------------


async def post_webhook(app: App, body: bytes, secret: str = SECRET) -> int:
    url = app.settings.telegram_webhook_url
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_malformed_json_to_the_webhook_is_a_400_logged_once_without_the_body(settings, org, tg, caplog):
    app = telegram_app(settings.database_url, tg, webhook=True)
    await app.start()
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert await post_webhook(app, b'{"update_id": 1, "message": {"text": "b\xc3\xad m\xe1\xba\xadt') == 400
            assert await post_webhook(app, b"[1, 2, 3]") == 400  # JSON, but not an update
            assert await post_webhook(app, b"{not json", secret="wrong") == 401
    finally:
        await app.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback
    assert not any("bí mật" in r.getMessage() or "update_id" in r.getMessage() for r in caplog.records)


def unreadable(tg, user_id: int) -> dict:
    """A message with a field in a shape newer than the library (a date that is an object)."""
    update = tg.message_update(user_id, "/start", language_code="en")
    update["message"]["date"] = {"unix": 1764400000, "tz": "Asia/Ho_Chi_Minh"}
    return update


@MODES
async def test_an_update_aiogram_cannot_parse_is_kept_as_failed(database, tg, webhook, caplog):
    url, db = database
    app = telegram_app(url, tg, webhook=webhook)
    await app.start()
    try:
        user = TgUser(tg, db, 8401, language="en", webhook=webhook)
        update = unreadable(tg, 8401)
        caplog.clear()
        await user.send(update)  # webhook: 200, not a 500 Telegram would retry forever
        [event] = failed(db)
        assert event.event_id == str(update["update_id"]) and "unix" in event.raw
        assert APOLOGY in user.text
        logged = [r for r in caplog.records if str(update["update_id"]) in r.getMessage()]
        assert len([r for r in logged if r.levelno >= logging.WARNING]) == 1

        other = TgUser(tg, db, 8402, language="en", webhook=webhook)
        await other.say("/start")  # polling goes on
        assert "invite code" in other.text
        if webhook:
            assert await tg.deliver_webhook(update) == 200  # again: a duplicate
            assert len(failed(db)) == 1
    finally:
        await app.stop()
    assert sum(APOLOGY in text for text in tg.sent_texts(8401)) == 1


# ---- start and health ---------------------------------------------------------------------


@pytest.mark.postgres
def test_a_read_only_postgresql_database_is_refused_at_start(pg_url, caplog):
    from sqlalchemy import text

    db = make_db(pg_url)
    upgrade(db)
    with db.connect() as conn:
        name = conn.execute(text("select current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        conn.commit()
    db.dispose()
    with pytest.raises(Exception, match="cannot be written") as refused:
        App(make_settings(pg_url))
    assert type(refused.value).__name__ == "StartupError"  # the CLI logs its one line, no traceback


def test_a_read_only_sqlite_database_is_refused_at_start_with_one_clear_line(tmp_path, monkeypatch, caplog):
    from chidoan.bot.cli import main

    path = tmp_path / "chidoan.sqlite3"
    db = make_db(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    monkeypatch.setenv("CHIDOAN_WEB_PORT", str(free_port()))
    with caplog.at_level(logging.INFO):
        assert main(["run"]) != 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "cannot be written" in errors[0].getMessage()


async def test_healthz_is_503_when_the_database_does_not_answer(app):
    url = f"http://127.0.0.1:{app.settings.web_port}/healthz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200 and (await resp.json())["ok"] is True
        # The database goes away (a server nobody listens on stands in for it).
        app.processor.db = make_db("postgresql+psycopg://nobody@127.0.0.1:9/gone?connect_timeout=1")
        try:
            async with session.get(url) as resp:
                assert resp.status == 503 and (await resp.json())["ok"] is False
        finally:
            app.processor.db.dispose()
            app.processor.db = app.db


# ---- duplicates are normal ------------------------------------------------------------------


@MODES
async def test_a_duplicate_button_press_logs_no_error(settings, org, tg, db, webhook, caplog):
    app = telegram_app(settings.database_url, tg, webhook=webhook)
    await app.start()
    try:
        user = TgUser(tg, db, 8501, language="en", webhook=webhook)
        await user.say("/ngonngu")
        data = user.button("English")
        press = tg.callback_update(8501, data, message_id=user._message_id_with(data), language_code="en")
        caplog.clear()
        with caplog.at_level(logging.INFO):
            await user.send(press)
            # The same update delivered again, and the same button pressed a second time.
            if webhook:
                assert await tg.deliver_webhook(press) == 200
            else:  # as after a restart before the next getUpdates confirmed it
                tg.redeliver(press)
            await user.send(tg.callback_update(8501, data, message_id=press["callback_query"]["message"]["message_id"]))
            await asyncio.sleep(0.2)
    finally:
        await app.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# ---- any other failure: bounded by deliveries ------------------------------------------------


async def test_an_event_failing_for_another_reason_is_kept_as_failed_after_bounded_deliveries(settings, db, org):
    """Not a database error about the event (here a bug before any handler runs): each delivery
    fails back to its channel (the platform delivers it again), and after DELIVERIES of them it is
    kept as failed, with one apology, so it holds up no one for ever."""
    from chidoan.bot.processor import DELIVERIES, TRIES, Processor
    from chidoan.engine.messages import Incoming

    engine = build_engine(settings)
    real, calls = engine.process, []

    def process(uow, incoming, now, isolate=False):
        if incoming.event_id == "bad":
            calls.append(isolate)
            raise RuntimeError("a bug outside any handler")
        return real(uow, incoming, now, isolate=isolate)

    engine.process = process
    processor = Processor(db, engine)
    await processor.start()
    try:
        bad = Incoming("web", "bad", "u1", "u1", text="/toi", language_code="en")
        for _ in range(DELIVERIES - 1):
            with pytest.raises(RuntimeError):
                await processor.submit(bad)
        assert not failed(db)
        assert await processor.submit(bad) is True  # the last delivery: kept as failed
        assert await processor.submit(Incoming("web", "ok", "u2", "u2", text="/start")) is True
    finally:
        await processor.stop()
    assert len(calls) == DELIVERIES * (TRIES + 1)  # each delivery: the batch, then TRIES alone
    [event] = failed(db)
    assert event.event_id == "bad" and event.error == "RuntimeError: a bug outside any handler"
    with unit_of_work(db) as uow:
        [apology] = uow.outbox.for_chat("web", "u1")
    assert APOLOGY in apology.body["text"]
