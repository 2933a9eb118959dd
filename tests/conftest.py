"""Shared fixtures: a fresh database per test, a small org tree, the app with its channels,
and `WebUser`, a person chatting through the real web channel."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.config import Settings
from chidoan.handlers.invites import issue
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import Outbox, OutboxStatus, Role, RoleAssignment
from chidoan.storage.uow import unit_of_work
from tests.fuzz import profiles as fuzz_profiles

TOKEN = "7001002003:chidoan-test-token"  # the fake Bot API's bot
BOT_USERNAME = "chidoan_test_bot"
ROOT = Path(__file__).resolve().parent.parent
fuzz_profiles.load()  # "ci" unless HYPOTHESIS_PROFILE says otherwise: deterministic, nothing written
PG_ADMIN_URL = os.environ.get("CHIDOAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_env(**extra: str) -> dict[str, str]:
    """The environment for the `chidoan` command in a child process: this worktree's package,
    none of the developer's settings (nothing that would start a channel or choose a database),
    Vietnamese (the command's default language) unless `extra` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDOAN_", "TELEGRAM_", "ZALO_", "LC_", "LANG"))}
    return env | {"PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", "CHIDOAN_REMINDERS": "false"} | extra


async def wait_healthy(
    session: aiohttp.ClientSession, port: int, process: subprocess.Popen, within: float = 60.0
) -> None:
    """Until the `chidoan run` in `process` answers /healthz on `port` (60 s: imports and
    migrations on 2 shared cores); fails if it exits or does not answer by then."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited at start"
        try:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not start")


def make_settings(database_url: str, **extra) -> Settings:
    values = {
        "CHIDOAN_DATABASE_URL": database_url,
        "CHIDOAN_WEB_PORT": free_port(),
        "TELEGRAM_BOT_TOKEN": None,
        "ZALO_BOT_TOKEN": None,  # a token in the developer's environment must not start a channel
        "ZALO_OA_APP_ID": None,
        "CHIDOAN_TIMEZONE": "Asia/Ho_Chi_Minh",
        "CHIDOAN_DEFAULT_LOCALE": "vi",
        "CHIDOAN_REMINDERS": False,  # on in the tests of reminders (tests/test_reminders.py)
        "CHIDOAN_ASK_CONSENT": False,  # on in the tests of personal data (tests/test_privacy.py)
    } | extra
    return Settings(_env_file=None, **values)


# The database switch: every test that asks for `database_url` (through `settings`, `db`,
# `org`, `app`; or `dialect` itself) runs twice, as test[sqlite] and test[postgresql], each on a database of its own.
# `@pytest.mark.sqlite_only("why")` keeps a test on SQLite alone (the WAL, the file's path).
DATABASES = ["sqlite", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("sqlite_only")
    if only is not None and not (only.args or only.kwargs.get("reason")):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs a reason")
    params = [
        pytest.param(name, marks=[pytest.mark.postgres] if name == "postgresql" else [])
        for name in (["sqlite"] if only else DATABASES)
    ]
    metafunc.parametrize("dialect", params, indirect=True)


@pytest.fixture
def dialect(request) -> str:
    """Which database the test runs on, SQLAlchemy's name for it: "sqlite" or "postgresql"."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(dialect, request, tmp_path) -> str:
    """A database of this test's own: a SQLite file in tmp_path, or a fresh PostgreSQL database
    already at the newest schema (copied from a template migrated once per run)."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}/chidoan.sqlite3"
    return request.getfixturevalue("pg_head_url")


@pytest.fixture
def empty_database_url(dialect, request, tmp_path) -> str:
    """A database of this test's own with no schema at all (for the migrations' own tests)."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}/empty.sqlite3"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def db(settings):
    engine = make_db(settings.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def seed_org(engine) -> dict:
    """Province › district › base unit › branch, another district, and a base unit directly
    under the province (levels skipped, as since the 2025 reorganisation)."""
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        kg = uow.units.add(code="KG", name="Tỉnh đoàn Kiên Giang", kind="province", parent=None, reviews=True, now=now)
        rg = uow.units.add(code="RG", name="Thành đoàn Rạch Giá", kind="district", parent=kg, reviews=True, now=now)
        vb = uow.units.add(
            code="RG-VB", name="Đoàn phường Vĩnh Bảo", kind="base_unit", parent=rg, reviews=False, now=now
        )
        kp1 = uow.units.add(
            code="RG-VB-KP1", name="Chi đoàn Khu phố 1", kind="branch", parent=vb, reviews=False, now=now
        )
        ct = uow.units.add(code="CT", name="Huyện đoàn Châu Thành", kind="district", parent=kg, reviews=True, now=now)
        ml = uow.units.add(code="CT-ML", name="Đoàn xã Minh Lương", kind="base_unit", parent=ct, reviews=False, now=now)
        cd = uow.units.add(
            code="KG-CD", name="Đoàn Trường Cao đẳng Kiên Giang", kind="base_unit", parent=kg, reviews=False, now=now
        )
    return {"KG": kg, "RG": rg, "RG-VB": vb, "RG-VB-KP1": kp1, "CT": ct, "CT-ML": ml, "KG-CD": cd}


@pytest.fixture
def org(db) -> dict:
    return seed_org(db)


def new_invite(engine, unit_code: str, role: Role = Role.secretary, days: int = 14) -> str:
    with unit_of_work(engine) as uow:
        unit = uow.units.by_code(unit_code)
        return issue(uow, unit=unit, role=role, issued_by=None, now=datetime.now(UTC), days=days).code


def add_member(
    engine, user_id: str, name: str, unit_code: str, role: Role, channel: str = "web", locale: str = "vi"
) -> int:
    """An account that already holds a role, with an identity on a channel."""
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        sender = uow.accounts.create_with_identity(
            channel=channel,
            external_id=user_id,
            chat_id=user_id,
            display_name=name,
            locale=locale,
            now=now,
            full_name=name,
        )
        uow.roles.grant(
            account_id=sender.account_id, unit_id=uow.units.by_code(unit_code).id, role=role, invite_id=None, now=now
        )
        return sender.account_id


def bound_on(engine, account_id: int, *local: int) -> None:
    """The account's roles were granted at this local time in Vietnam (add_member grants them now)."""
    table = RoleAssignment.__table__
    with unit_of_work(engine) as uow:
        uow.conn.execute(
            table.update()
            .where(table.c.account_id == account_id)
            .values(granted_at=datetime(*local, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).astimezone(UTC))
        )


@pytest.fixture
async def app(settings, org):
    application = App(settings)
    await application.start()
    yield application
    await application.stop()


class WebUser:
    """A person in the web chat. `say`/`press` return the bot's replies to that action, read
    once the outbox shows every reply to this chat as delivered."""

    def __init__(self, app: App, user_id: str, name: str = "", language: str = "vi"):
        self.app = app
        self.user_id = user_id
        self.name = name
        self.language = language
        self.last: list[dict] = []
        self._seen = 0
        self._early: list[dict] = []  # replies that came before their message's ack

    async def __aenter__(self) -> WebUser:
        # Our own connection: the app's single SQLite connection belongs to its database thread.
        self._db = make_db(self.app.settings.database_url)
        self._session = aiohttp.ClientSession()
        url = f"http://127.0.0.1:{self.app.settings.web_port}/ws"
        self.ws = await self._session.ws_connect(url, params={"user": self.user_id, "name": self.name})
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self._session.close()
        self._db.dispose()

    async def send_frame(self, frame: dict) -> list[dict]:
        frame = {"id": uuid.uuid4().hex, "language": self.language} | frame
        await self.ws.send_json(frame)
        while True:
            data = await asyncio.wait_for(self.ws.receive_json(), 30)
            if data["type"] == "ack" and data["id"] == frame["id"]:
                break
            # The sender may deliver a reply before the ack goes out (several database threads
            # on PostgreSQL): the page shows it either way, so the test keeps it too.
            self._early.append(data)
        return await self.replies()

    async def replies(self) -> list[dict]:
        rows = await self._delivered()
        new, self._seen = rows[self._seen :], len(rows)
        messages = []
        for _ in new:
            messages.append(self._early.pop(0) if self._early else await asyncio.wait_for(self.ws.receive_json(), 30))
        self.last = messages
        return messages

    async def _delivered(self) -> list:
        table = Outbox.__table__
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            with self._db.connect() as conn:
                rows = list(
                    conn.execute(
                        select(table)
                        .where(table.c.channel == "web", table.c.chat_id == self.user_id)
                        .order_by(table.c.id)
                    )
                )
            if all(r.status != OutboxStatus.pending for r in rows):
                return rows
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"replies to {self.user_id} still pending")
            await asyncio.sleep(0.01)

    async def say(self, text: str, **extra) -> list[dict]:
        return await self.send_frame({"type": "text", "text": text} | extra)

    async def press(self, label_part: str) -> list[dict]:
        """Press the button whose label contains `label_part`, on the newest message that has one."""
        return await self.send_frame({"type": "button", "payload": self.button(label_part)})

    def button(self, label_part: str) -> str:
        for message in reversed(self.last):
            for row in message.get("buttons", []):
                for b in row:
                    if label_part.casefold() in b["label"].casefold():
                        return b["payload"]
        raise AssertionError(f"no button {label_part!r} in {self.last}")

    @property
    def text(self) -> str:
        return "\n".join(m["text"] for m in self.last)


def expire(engine, code: str) -> None:
    from chidoan.storage.models import Invite

    with unit_of_work(engine) as uow:
        uow.conn.execute(
            Invite.__table__.update()
            .where(Invite.__table__.c.code == code)
            .values(expires_at=datetime.now(UTC) - timedelta(days=1))
        )


@contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A new database on the local PostgreSQL server (empty, or a copy of `template`), dropped
    afterwards; skips the test when the server cannot be reached, outside CI."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"chidoan_t_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_files(tmp_path, monkeypatch) -> None:
    """A PostgreSQL test's file store is a folder of its own (not files/ in the data directory,
    a PostgreSQL URL's default)."""
    monkeypatch.setenv("CHIDOAN_FILES_DIR", str(tmp_path / "pg-files"))


@pytest.fixture
def pg_url(pg_files):
    """A fresh, empty database on the local PostgreSQL server, dropped afterwards."""
    with pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_template():
    """A database migrated to the newest schema once per run (per xdist worker), that no one
    connects to again: CREATE DATABASE copies it in about a tenth of a second, where running the
    migrations on each test's database took half a second."""
    from sqlalchemy.engine import make_url

    with pg_database() as url:
        engine = make_db(url)
        upgrade(engine)
        engine.dispose()
        yield make_url(url).database


@pytest.fixture
def pg_head_url(pg_template, pg_files):
    """A fresh database on the local PostgreSQL server, already at the newest schema."""
    with pg_database(pg_template) as url:
        yield url


@pytest.fixture
async def tg():
    """A local fake of the Telegram Bot API that the real aiogram client talks to."""
    from tests.fake_telegram import FakeTelegram

    async with FakeTelegram(token=TOKEN, username=BOT_USERNAME) as fake:
        yield fake


def document_bytes(engine, document_id: int) -> bytes:
    """A stored document's bytes, as sent: read from the file store (storage/files.py) by its row."""
    with unit_of_work(engine) as uow:
        return uow.documents.content(uow.documents.one(document_id))


# A hung test: pytest-timeout (pyproject.toml) kills its worker, which under pytest-xdist shows
# only "worker crashed" and shows a hung coroutine only as the event loop's select. So, some
# seconds before, print what each task of the running loops waits on (into the test's captured
# output) and cancel the test's coroutine: it fails with its own traceback and its fixtures clean up.
_TASK_DUMP_LEAD = 30.0
_task_dumps: dict[str, threading.Timer] = {}


def _cancel_hung(item: pytest.Item) -> None:
    print(f"\n--- {item.nodeid}: near its timeout; the tasks of each running event loop ---", file=sys.stderr)
    name = getattr(item, "originalname", item.name)
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if not loop.is_running():
            continue
        for task in list(asyncio.all_tasks(loop)):
            task.print_stack(limit=12, file=sys.stderr)
            if getattr(task.get_coro(), "__name__", None) == name:
                loop.call_soon_threadsafe(task.cancel, f"{item.nodeid}: hung")


def pytest_timeout_set_timer(item: pytest.Item, settings) -> None:
    if settings.timeout and settings.timeout > _TASK_DUMP_LEAD:
        timer = threading.Timer(settings.timeout - _TASK_DUMP_LEAD, _cancel_hung, (item,))
        timer.daemon = True
        timer.start()
        _task_dumps[item.nodeid] = timer


def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = _task_dumps.pop(item.nodeid, None)
    if timer is not None:
        timer.cancel()
