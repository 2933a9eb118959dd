"""`chidoan run --workers N`, end to end: the command as a child process on PostgreSQL, in webhook
mode against the fake Bot API; updates posted to its one port are answered by both workers (the
X-Chidoan-Worker header names the process), stored once each and replied to; every scrape of
/metrics counts them all, whichever worker answers it; the leader killed is started again by the
parent, its counts stay in /metrics and its leadership leaves it; SIGTERM stops them all. On
SQLite it refuses to start."""

from __future__ import annotations

import asyncio
import json
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
from tests.test_operations import scrape

EVENT = table(InboundEvent)
UPDATES = 40
SCRAPES = 8  # at least, and until both workers answered one
RECEIVED = ("chidoan_updates_received_total", (("channel", "telegram"),))
NEW = ("chidoan_updates_handled_total", (("channel", "telegram"), ("outcome", "new")))
SENT = ("chidoan_messages_sent_total", (("channel", "telegram"),))
LEADER = ("chidoan_leader", ())


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def until(check, within: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if found := check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def answer(port: int, path: str) -> tuple[int, str]:
    """GET on a connection of its own (so the kernel picks the worker): which worker answered, and what."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        assert response.status == 200, await response.text()
        return int(response.headers["X-Chidoan-Worker"]), await response.text()


async def answer_metrics(port: int) -> dict:
    return scrape((await answer(port, "/metrics"))[1])


async def scrapes(port: int, workers: set[int]) -> list[dict]:
    """/metrics scraped SCRAPES times at least, and until each of `workers` answered."""
    answered: set[int] = set()
    seen = []
    while len(seen) < SCRAPES or answered != workers:
        assert len(seen) < 100, answered
        pid, text = await answer(port, "/metrics")
        answered.add(pid)
        seen.append(scrape(text))
    return seen


async def leading(port: int, workers: set[int]) -> int:
    """The worker that holds the leadership, by /healthz (asked until it is one of `workers`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid, text = await answer(port, "/healthz")
        if pid in workers and json.loads(text)["leader"]["held"]:
            return pid
    raise AssertionError("no leader")


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
async def test_two_workers_serve_one_port(pg_url, tg, tmp_path):
    port = free_port()
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1.db").write_bytes(b"")  # a previous run's, unreadable: the workers' start empties it
    env = command_env(
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
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

        # Each scrape shows the whole service, whichever worker answers it.
        deadline = time.monotonic() + 30  # the sender's round is recorded just after its sends
        while (await answer_metrics(port))[SENT] != UPDATES:
            assert time.monotonic() < deadline, "the sends not counted"
            await asyncio.sleep(0.2)
        for samples in await scrapes(port, workers):
            assert (samples[RECEIVED], samples[NEW], samples[SENT], samples[LEADER]) == (UPDATES, UPDATES, UPDATES, 1)

        # The leader killed is started again by the parent; its counts stay, its leadership goes.
        killed = await leading(port, workers)
        os.kill(killed, signal.SIGKILL)
        again = await until(
            lambda: len(children(parent.pid)) == 2 and killed not in children(parent.pid) and children(parent.pid),
            what="the killed worker started again",
        )
        assert len(again & workers) == 1
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, parent)
        await leading(port, again)
        for samples in await scrapes(port, again):
            assert (samples[RECEIVED], samples[NEW], samples[SENT], samples[LEADER]) == (UPDATES, UPDATES, UPDATES, 1)
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
