"""Zalo OA tokens against a local fake of Zalo's OAuth server, through the real client code: one
refresh for two workers (two processes on PostgreSQL, two users of one SQLite in a process), an
error answer never overwriting the stored pair and telling the admins, refreshing ahead of expiry,
`chidoan zalo connect` (PKCE) and `chidoan zalo status`, and no token in any log line."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text

from chidoan.bot.channels.zalo_tokens import (
    CHANNEL,
    LOCK_KEY,
    NotConnected,
    RefreshFailed,
    TokenError,
    ZaloTokens,
    challenge_of,
    parse_answer,
    pkce,
)
from chidoan.bot.processor import Processor
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import Outbox, Role
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, make_settings, seed_org
from tests.fake_zalo_oauth import FakeZaloOAuth


@pytest.fixture
async def oauth(caplog):
    """The fake OAuth server; afterwards, whatever was logged (at any level) holds no token or
    code it issued."""
    caplog.set_level(logging.DEBUG)
    async with FakeZaloOAuth() as fake:
        yield fake
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        line = record.getMessage()
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info)
        leaked = [token for token in fake.issued if token in line]
        assert not leaked, f"a token was logged: {record.name}: {line[:200]}"


@pytest.fixture
def url(database_url) -> str:
    return database_url


def settings_for(url: str, oauth: FakeZaloOAuth, **extra):
    return make_settings(url, **oauth.settings(), **extra)


def database(url: str):
    engine = make_db(make_settings(url).database_url)
    upgrade(engine)
    return engine


def seed_pair(engine, oauth: FakeZaloOAuth, *, expires_in: timedelta, age: timedelta = timedelta(hours=1)):
    """The stored pair, as `zalo connect` (or a refresh) left it; returns (access, refresh)."""
    access, refresh = oauth.issue()
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        uow.tokens.store(
            CHANNEL, access_token=access, refresh_token=refresh, expires_at=now + expires_in, now=now - age
        )
    return access, refresh


def stored(engine):
    with unit_of_work(engine) as uow:
        return uow.tokens.get(CHANNEL)


def outbox(engine) -> list:
    table = Outbox.__table__
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


# --- two workers, one refresh ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["refused", "expiring"])
async def test_two_processes_on_postgresql_refresh_exactly_once(pg_url, oauth, how):
    """Two workers (two engines: two processes) send at the same moment with a token that Zalo
    refused (-216) or that expires mid-conversation: one OAuth call, both go on with the new token,
    and the lock is held across the (slow) call on a connection of its own."""
    settings = settings_for(pg_url, oauth)
    one, two = database(pg_url), database(pg_url)
    old, old_refresh = seed_pair(
        one, oauth, expires_in=timedelta(minutes=1) if how == "expiring" else timedelta(hours=20)
    )
    workers = [ZaloTokens(settings, one), ZaloTokens(settings, two)]
    oauth.gate = asyncio.Event()
    try:
        calls = [w.refreshed(old) if how == "refused" else w.current() for w in workers]
        both = asyncio.gather(*calls)
        await within(oauth.asked.wait())  # the first is inside the OAuth call now, held there
        assert advisory_locks_held(two) == 1  # the advisory lock is held across it
        oauth.gate.set()
        first, second = await both
    finally:
        for w in workers:
            await w.stop()
    assert oauth.refreshes == 1
    assert first == second == oauth.access_token != old
    row = stored(two)
    assert row.access_token == first and not oauth.spent(row.refresh_token) and oauth.spent(old_refresh)
    assert row.expires_at > datetime.now(UTC) + timedelta(hours=24)
    one.dispose(), two.dispose()


async def within(awaitable, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        return await awaitable


async def until(check, timeout: float = 10.0):
    """Poll `check()` until it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"not met within {timeout} s"
        await asyncio.sleep(0.02)


def advisory_locks_held(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :low"),
            {"low": LOCK_KEY & 0xFFFFFFFF},
        ).scalar_one()


@pytest.mark.postgres
async def test_a_refresh_cut_off_mid_call_frees_the_lock_and_spends_nothing(pg_url, oauth):
    """A worker stopped during the OAuth call (cancelled, as at shutdown): its connection goes,
    and the lock with it; the stored pair is as before and the next worker refreshes."""
    settings = settings_for(pg_url, oauth)
    one, two = database(pg_url), database(pg_url)
    old, old_refresh = seed_pair(one, oauth, expires_in=timedelta(hours=20))
    first, second = ZaloTokens(settings, one), ZaloTokens(settings, two)
    oauth.gate = asyncio.Event()  # never set: this call is not answered
    try:
        cut = asyncio.create_task(first.refreshed(old))
        await within(oauth.asked.wait())  # inside the OAuth call
        assert advisory_locks_held(two) == 1
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        await until(lambda: advisory_locks_held(two) == 0)  # as its connection closes
        assert stored(two).refresh_token == old_refresh and not oauth.spent(old_refresh)
        oauth.gate = None
        assert await second.refreshed(old) == oauth.access_token != old
    finally:
        await first.stop(), await second.stop()
        one.dispose(), two.dispose()


@pytest.mark.postgres
async def test_a_waiter_gives_up_without_spending_anything(pg_url, oauth, monkeypatch):
    """Someone holds the lock too long: the waiter gives up after LOCK_WAIT with a TokenError,
    calls nothing and changes nothing."""
    import chidoan.bot.channels.zalo_tokens as zalo_tokens

    monkeypatch.setattr(zalo_tokens, "LOCK_WAIT", 0.3)
    settings = settings_for(pg_url, oauth)
    db = database(pg_url)
    old, old_refresh = seed_pair(db, oauth, expires_in=timedelta(hours=20))
    tokens = ZaloTokens(settings, db)
    holder = db.connect()
    try:
        holder.execute(text("SELECT pg_advisory_lock(CAST(:key AS bigint))"), {"key": LOCK_KEY})
        holder.commit()
        with pytest.raises(zalo_tokens.TokenError, match="refresh lock"):
            await tokens.refreshed(old)
        assert oauth.refreshes == 0 and stored(db).refresh_token == old_refresh
        holder.execute(text("SELECT pg_advisory_unlock(CAST(:key AS bigint))"), {"key": LOCK_KEY})
        holder.commit()
        assert await tokens.refreshed(old) == oauth.access_token and oauth.refreshes == 1
    finally:
        holder.close()
        await tokens.stop()
        db.dispose()


async def test_two_workers_on_sqlite_refresh_exactly_once_and_the_writer_stays_free(tmp_path, oauth):
    """SQLite, one process: two users of the token (sharing the processor's database thread, its
    only writer) refresh once under the in-process lock, and the database thread keeps serving
    updates during the slow OAuth call (no transaction is held across it)."""
    url = f"sqlite:///{tmp_path}/chidoan.sqlite3"
    settings = settings_for(url, oauth)
    db = database(url)
    processor = Processor(db, build_engine(settings))
    old, _ = seed_pair(db, oauth, expires_in=timedelta(hours=20))
    workers = [ZaloTokens(settings, db, run=processor.run) for _ in range(2)]
    oauth.gate = asyncio.Event()
    try:
        both = asyncio.gather(*(w.refreshed(old) for w in workers))
        await within(oauth.asked.wait())  # the refresh is inside the OAuth call, held there
        await within(processor.run(lambda uow: uow.kv.put("during", "the call")))  # the writer is not held
        assert not both.done() and oauth.refreshes == 1  # the refresh still waits for its answer
        oauth.gate.set()
        first, second = await both
        assert (first, second) == (oauth.access_token, oauth.access_token) and first != old
        assert oauth.refreshes == 1
        assert await workers[0].current() == first and oauth.refreshes == 1
    finally:
        for w in workers:
            await w.stop()
        await processor.stop()
        db.dispose()


# --- error answers ----------------------------------------------------------------------------------


ERRORS = {
    "200 with error": (200, b'{"error": -14014, "error_name": "Invalid refresh token", "error_description": "x"}'),
    "200 with error_name only": (200, b'{"error_name": "Invalid refresh token", "error_reason": "x"}'),
    "500": (500, b"<html>Internal Server Error</html>"),
    "not JSON": (200, b"<html>maintenance</html>"),
    "no tokens": (200, b'{"access_token": "", "refresh_token": "", "expires_in": "90000"}'),
    "half a pair": (200, b'{"access_token": "AT-only-half", "expires_in": "90000"}'),
}


@pytest.mark.parametrize("answer", ERRORS.values(), ids=ERRORS.keys())
def test_every_error_answer_is_refused(answer):
    with pytest.raises(RefreshFailed):
        parse_answer(*answer)


def test_a_good_answer_is_a_pair_and_shows_no_token():
    pair = parse_answer(
        200, b'{"access_token": "AT-abcdef123", "refresh_token": "RT-abcdef456", "expires_in": "90000"}'
    )
    assert (pair.access_token, pair.refresh_token, pair.expires_in) == ("AT-abcdef123", "RT-abcdef456", 90000)
    assert "AT-" not in repr(pair) and "RT-" not in repr(pair)
    # the new refresh token is the only way on: kept even when expires_in is unreadable (25 h)
    assert parse_answer(200, b'{"access_token": "AT-abcdef123", "refresh_token": "RT-abcdef456"}').expires_in == 90000


async def test_an_error_answer_keeps_the_pair_and_tells_the_admins_once(url, oauth):
    """OAuth answers an error with HTTP 200: the stored pair is untouched, last_error says why
    (without a token), every admin is told at once in their language (one message per chat per
    day, however often it fails), nobody else is; once OAuth works again the kept pair renews."""
    settings = settings_for(url, oauth)
    db = database(url)
    seed_org(db)
    add_member(db, "admin-vi", "Quản Trị Viên", "KG", Role.admin, locale="vi")
    add_member(db, "admin-en", "Admin Person", "RG", Role.admin, locale="en")
    add_member(db, "secretary", "Bí Thư", "RG-VB", Role.secretary)
    access, refresh = seed_pair(db, oauth, expires_in=timedelta(hours=20))
    before = stored(db)
    woken = []
    tokens = ZaloTokens(settings, db, wake=lambda: woken.append(1), retry_after=0)
    oauth.fail_with_200()
    try:
        with pytest.raises(RefreshFailed, match="Invalid refresh token"):
            await tokens.refreshed(access)
        row = stored(db)
        assert (row.access_token, row.refresh_token, row.expires_at, row.refreshed_at) == (
            access,
            refresh,
            before.expires_at,
            before.refreshed_at,
        )
        assert "Invalid refresh token" in row.last_error and row.last_error_at is not None
        assert access not in row.last_error and refresh not in row.last_error
        rows = outbox(db)
        assert sorted(r.chat_id for r in rows) == ["admin-en", "admin-vi"] and woken
        texts = {r.chat_id: r.body["text"] for r in rows}
        assert "không gia hạn được mã truy cập Zalo" in texts["admin-vi"] and "bạn" not in texts["admin-vi"]
        assert "could not renew its Zalo access token" in texts["admin-en"]
        assert "Invalid refresh token" in texts["admin-en"] and access not in texts["admin-en"]

        with pytest.raises(RefreshFailed):  # fails again the same day: no second message
            await tokens.refreshed(access)
        assert len(outbox(db)) == 2 and oauth.refreshes == 2

        oauth.answer_with = None  # OAuth is back: the kept refresh token still works
        new = await tokens.refreshed(access)
        assert new == oauth.access_token and stored(db).access_token == new and oauth.refreshes == 3
    finally:
        await tokens.stop()
        db.dispose()


async def test_a_failed_refresh_ahead_of_expiry_keeps_using_the_valid_token(url, oauth):
    """Refreshing ahead fails: sending goes on with the stored token while it lasts, and the next
    tries wait a while (no hammering of OAuth on every send)."""
    settings = settings_for(url, oauth)
    db = database(url)
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=3))
    tokens = ZaloTokens(settings, db)
    oauth.answer_with = (502, b"Bad Gateway")
    try:
        assert await tokens.current() == access
        assert await tokens.current() == access
        assert oauth.refreshes == 1  # the second send did not try again within RETRY_AFTER
        assert "HTTP 502" in stored(db).last_error
    finally:
        await tokens.stop()
        db.dispose()


async def test_an_expired_token_with_a_failing_refresh_is_an_error(url, oauth):
    db = database(url)
    seed_pair(db, oauth, expires_in=timedelta(minutes=-5))
    tokens = ZaloTokens(settings_for(url, oauth), db)
    oauth.fail_with_200()
    try:
        with pytest.raises(RefreshFailed):
            await tokens.current()
    finally:
        await tokens.stop()
        db.dispose()


async def test_no_pair_stored_says_to_connect(url, oauth):
    db = database(url)
    tokens = ZaloTokens(settings_for(url, oauth), db)
    try:
        with pytest.raises(NotConnected, match="chidoan zalo connect"):
            await tokens.current()
        assert oauth.refreshes == 0
    finally:
        await tokens.stop()
        db.dispose()


# --- ahead of expiry ------------------------------------------------------------------------------


async def test_refreshed_ahead_of_expiry_and_not_before(url, oauth):
    settings = settings_for(url, oauth, ZALO_OA_REFRESH_MARGIN_HOURS=12)
    db = database(url)
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=20))
    tokens = ZaloTokens(settings, db)
    try:
        assert await tokens.current() == access and oauth.refreshes == 0  # 20 h left: not yet
        with unit_of_work(db) as uow:  # eight hours later, 12 h are left
            uow.tokens.store(
                CHANNEL,
                access_token=access,
                refresh_token=stored(db).refresh_token,
                expires_at=datetime.now(UTC) + timedelta(hours=11, minutes=59),
                now=datetime.now(UTC) - timedelta(hours=13),
            )
        new = await tokens.current()
        assert new != access and new == oauth.access_token and oauth.refreshes == 1
        assert await tokens.current() == new and oauth.refreshes == 1
    finally:
        await tokens.stop()
        db.dispose()


async def test_the_periodic_check_refreshes_ahead_of_expiry(url, oauth):
    db = database(url)
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=6))
    tokens = ZaloTokens(settings_for(url, oauth), db, check_every=0.05)
    await tokens.start()
    try:
        await until(lambda: oauth.refreshes, timeout=20)
        await asyncio.sleep(0.2)  # several more checks: the new token is not due
    finally:
        await tokens.stop()
    assert oauth.refreshes == 1
    assert stored(db).access_token == oauth.access_token != access
    db.dispose()


# --- the command line -------------------------------------------------------------------------------


def test_pkce_verifier_and_challenge():
    verifier, challenge = pkce()
    assert 43 <= len(verifier) <= 128 and re.fullmatch(r"[A-Za-z0-9._~-]+", verifier)
    assert challenge == challenge_of(verifier) and "=" not in challenge and len(challenge) == 43
    # RFC 7636, appendix B
    assert challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def run_cli(*args: str) -> int:
    from chidoan.bot.cli import main

    return await asyncio.to_thread(main, ["--lang", "en", *args])  # main runs its own event loop


async def test_zalo_connect_then_status(url, tmp_path, oauth, monkeypatch, capsys):
    settings_for(url, oauth)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in oauth.settings().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", url)
    monkeypatch.setenv("ZALO_OA_REDIRECT_URI", "https://bot.example.vn/zalo/callback")

    assert await run_cli("zalo", "status") == 1
    assert "run `chidoan zalo connect`" in capsys.readouterr().out

    assert await run_cli("zalo", "connect") == 0
    printed = capsys.readouterr().out
    link = re.search(r"https?://\S+/v4/oa/permission\?\S+", printed).group(0)
    assert link.startswith(oauth.base_url + "/v4/oa/permission?")
    query = parse_qs(urlsplit(link).query)
    assert query["app_id"] == [oauth.app_id] and query["redirect_uri"] == ["https://bot.example.vn/zalo/callback"]
    assert "chidoan zalo connect --code" in printed
    code = oauth.authorize(query["code_challenge"][0])  # the admin allowed the app

    forged = f"https://bot.example.vn/zalo/callback?code={code}&state=not-this-one"
    assert await run_cli("zalo", "connect", "--code", forged) == 1
    assert "state" in capsys.readouterr().err and oauth.exchanges == 0

    callback = f"https://bot.example.vn/zalo/callback?oa_id=1234&code={code}&state={query['state'][0]}"
    assert await run_cli("zalo", "connect", "--code", callback) == 0
    assert "Connected" in capsys.readouterr().out
    assert oauth.exchanges == 1 and challenge_of(oauth.verifiers[0]) == query["code_challenge"][0]
    db = make_db(url)
    row = stored(db)
    assert row.access_token == oauth.access_token and not oauth.spent(row.refresh_token)
    assert timedelta(hours=24) < row.expires_at - datetime.now(UTC) <= timedelta(hours=25)

    assert await run_cli("zalo", "connect", "--code", code) == 1  # the verifier served its code
    capsys.readouterr()

    now = datetime.now(UTC)
    with unit_of_work(db) as uow:
        uow.events.record(
            channel="zalo",
            event_id="m1",
            account_id=None,
            kind="text",
            text="hi",
            payload=None,
            now=now - timedelta(minutes=7),
        )
        uow.tokens.record_error(CHANNEL, "HTTP 200, error -14014: Invalid refresh token", now)
    db.dispose()
    assert await run_cli("zalo", "status") == 1  # the newest refresh failed: needs an admin
    out = capsys.readouterr().out
    assert "last refresh:" in out and "expires:" in out and "Invalid refresh token" in out
    assert "last Zalo event received" in out and "(7 min ago)" in out
    for token in oauth.issued:
        assert token not in out


async def test_the_admin_reads_the_warning_in_the_web_chat_at_once(url, oauth):
    """In the running app (the channel's way: `ZaloTokens.for_host`), a failed refresh reaches an
    admin's open web chat without waiting for the sender's next round."""
    from chidoan.bot.app import App
    from tests.conftest import WebUser

    settings = settings_for(url, oauth)
    db = database(url)
    seed_org(db)
    add_member(db, "admin", "Admin Person", "KG", Role.admin, locale="en")
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=20))
    app = App(settings)
    await app.start()
    tokens = ZaloTokens.for_host(app.host)
    oauth.fail_with_200()
    try:
        async with WebUser(app, "admin", language="en") as admin:
            with pytest.raises(RefreshFailed):
                await tokens.refreshed(access)
            [warning] = await admin.replies()
            assert "could not renew its Zalo access token" in warning["text"] and access not in warning["text"]
    finally:
        await tokens.stop()
        await app.stop()
        db.dispose()


async def test_zalo_connect_asks_for_the_code_in_a_terminal(url, tmp_path, oauth, monkeypatch, capsys):
    import builtins
    import sys

    settings_for(url, oauth)
    monkeypatch.chdir(tmp_path)
    for key, value in oauth.settings().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHIDOAN_DATABASE_URL", url)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)

    def consent(prompt: str) -> str:  # the admin opens the link, allows, pastes the bare code
        link = re.search(r"https?://\S+/v4/oa/permission\?\S+", capsys.readouterr().out).group(0)
        return oauth.authorize(parse_qs(urlsplit(link).query)["code_challenge"][0])

    monkeypatch.setattr(builtins, "input", consent)
    assert await run_cli("zalo", "connect", "--redirect-uri", "https://bot.example.vn/cb") == 0
    assert "Connected" in capsys.readouterr().out and oauth.exchanges == 1
    db = make_db(url)
    assert stored(db).access_token == oauth.access_token
    db.dispose()


async def test_a_pair_that_arrives_in_pieces_is_read_whole(url, oauth):
    # One read(n) of the answer returns what has arrived so far: half a pair, refused as "not
    # JSON" after Zalo had already spent the refresh token.
    db = database(url)
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=1))
    oauth.chunked = True
    tokens = ZaloTokens(settings_for(url, oauth), db)
    try:
        new = await tokens.refreshed(access)
        assert new != access and new == oauth.access_token == stored(db).access_token
    finally:
        await tokens.stop()
        db.dispose()


async def test_a_pair_the_database_refuses_leaves_no_token_in_the_error(tmp_path, oauth):
    url = f"sqlite:///{tmp_path}/chidoan.sqlite3"
    db = database(url)
    access, _ = seed_pair(db, oauth, expires_in=timedelta(hours=1))
    with db.begin() as conn:  # stands for a disk full or a database gone read-only
        conn.execute(
            text(
                "CREATE TRIGGER no_pairs BEFORE UPDATE ON channel_token BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        )
    tokens = ZaloTokens(settings_for(url, oauth), db)
    try:
        with pytest.raises(TokenError) as refused:
            await tokens.refreshed(access)
        assert oauth.refreshes == 1 and not [t for t in oauth.issued if t in str(refused.value)]
    finally:
        await tokens.stop()
        db.dispose()
