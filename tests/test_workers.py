"""`chidoan run --workers N`, end to end: the command as a child process on PostgreSQL, in webhook
mode against the fake Bot API; updates posted to its one port are answered by both workers (the
X-Chidoan-Worker header names the process), stored once each and replied to; a worker killed is
started again by the parent; SIGTERM stops them all. On SQLite it refuses to start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, func, select

from chidoan.storage.models import InboundEvent, table
from tests.conftest import ROOT, command_env, free_port, wait_healthy

EVENT = table(InboundEvent)
UPDATES = 40


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def until(check, within: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if found := check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_several_workers_refuse_sqlite(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "chidoan", "run", "--workers", "2"],
        env=command_env(CHIDOAN_DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3", CHIDOAN_WEB_ENABLED="false"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    said = [line for line in done.stderr.splitlines() if "not starting" in line]
    assert len(said) == 1 and "PostgreSQL" in said[0], done.stderr
    assert not (tmp_path / "x.sqlite3").exists()  # refused before anything was done


@pytest.mark.postgres
async def test_two_workers_serve_one_port(pg_url, tg):
    port = free_port()
    env = command_env(
        CHIDOAN_DATABASE_URL=pg_url,
        CHIDOAN_WEB_PORT=str(port),
        CHIDOAN_WEB_ENABLED="false",
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.base_url,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
    )
    parent = subprocess.Popen([sys.executable, "-m", "chidoan", "run", "--workers", "2"], env=env, cwd=ROOT)
    db = create_engine(pg_url)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, parent)
        workers = await until(lambda: len(children(parent.pid)) == 2 and children(parent.pid), what="two workers")
        await until(lambda: len(tg.calls_of("setWebhook")) == 2, what="both workers' setWebhook")
        answered: list[int] = []
        updates = []
        for n in range(UPDATES):
            update = tg.message_update(8000 + n, "/start", language_code="en")
            tg._happen(update)
            updates.append(update)
            headers = {"X-Telegram-Bot-Api-Secret-Token": tg._webhook_secret}
            async with (
                aiohttp.ClientSession() as session,  # a connection of its own, as Telegram's are spread
                session.post(tg.webhook_url, json=update, headers=headers) as response,
            ):
                assert response.status == 200
                answered.append(int(response.headers["X-Chidoan-Worker"]))
        assert set(answered) == workers  # both answered, and only they
        with db.connect() as conn:
            stored = conn.execute(
                select(func.count()).where(
                    EVENT.c.event_id.in_([str(u["update_id"]) for u in updates]), EVENT.c.processed_at.is_not(None)
                )
            ).scalar_one()
        assert stored == UPDATES
        await until(lambda: all(tg.sent_texts(8000 + n) for n in range(UPDATES)), what="every reply sent")
        assert all(len(tg.sent_texts(8000 + n)) == 1 for n in range(UPDATES))  # each once

        # A worker killed is started again by the parent.
        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        again = await until(
            lambda: len(children(parent.pid)) == 2 and killed not in children(parent.pid) and children(parent.pid),
            what="the killed worker started again",
        )
        assert len(again & workers) == 1
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, parent)
    finally:
        parent.send_signal(signal.SIGTERM)  # passed on to the workers, which stop; then the parent
        try:
            code = parent.wait(30)
        except subprocess.TimeoutExpired:
            parent.kill()
            raise
        db.dispose()
    assert code == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid) for pid in again | workers)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0].lower()
    except (FileNotFoundError, IndexError):
        return "zombie"
