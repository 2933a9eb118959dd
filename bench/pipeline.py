"""Throughput and latency of the Telegram webhook path, beside a bare aiogram echo bot.

Both servers run the same stack up to the handler: aiohttp → aiogram's SimpleRequestHandler
(secret-token check, `handle_in_background=False`, as chidoan runs it) → a handler.
- echo: the handler returns SendMessage, which aiogram puts in the HTTP answer (no I/O at all);
- pipeline: chidoan's TelegramChannel → Processor (group commit on the database thread) →
  Engine (de-duplication, sender lookup, conversation load/save, outbox rows) → SQLite commit.
  The HTTP answer goes back only once the update and its replies are committed.

Each server runs in its own process (one core); the load comes from this process (the other
core) over loopback: CONCURRENCY keep-alive connections, updates from USERS people who are each
in the middle of a journey that collects a list ("add another task?"), so every update is a
real step: an answer checked, the conversation saved, a reply queued.

Run: python bench/pipeline.py [--updates 20000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "123456:BENCH"
SECRET = "bench-secret"
PATH = "/telegram/webhook"


def bench_journey():
    from chidoan.engine.journey import Journey, Kind, Step

    return Journey(
        name="bench",
        title="Bench",
        steps=(
            Step(
                "tasks",
                "Tasks",
                kind=Kind.repeat,
                steps=(Step("what", "What will be done?", max_len=2000),),
                more_prompt="Add another task?",
                min_items=1,
            ),
        ),
        complete=lambda ctx, answers: None,
    )


def serve_echo(port: int, ready) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.methods import SendMessage
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    dispatcher = Dispatcher(disable_fsm=True)  # as chidoan's channel runs it

    @dispatcher.message()
    async def echo(message: Message):
        return SendMessage(chat_id=message.chat.id, text=message.text or "")

    bot = Bot(TOKEN)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET, handle_in_background=False).register(app, path=PATH)
    _run(app, port, ready)


def serve_pipeline(port: int, db_path: str, users: int, ready) -> None:
    from aiohttp import web

    from chidoan.bot.app import settle_heap
    from chidoan.bot.channels.base import Host
    from chidoan.bot.channels.telegram import TelegramChannel
    from chidoan.bot.config import Settings
    from chidoan.bot.processor import Processor
    from chidoan.engine.dispatch import Engine
    from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
    from chidoan.handlers.onboarding import start_with_code

    settings = Settings(
        _env_file=None,
        CHIDOAN_DATABASE_URL=f"sqlite:///{db_path}",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL="http://127.0.0.1:9",  # never called: replies wait in the outbox
        TELEGRAM_WEBHOOK_URL="https://example.invalid/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    engine = Engine(
        settings, commands=COMMANDS, journeys=[*JOURNEYS, bench_journey()], actions=ACTIONS, on_code=start_with_code
    )

    async def main() -> None:
        from chidoan.bot.checkpointer import Checkpointer
        from chidoan.storage.db import make_db, upgrade

        db = make_db(settings.database_url, checkpoints=False)  # as App does: the WAL is copied back
        upgrade(db)
        _seed(db, engine, users)
        await Checkpointer(settings.database_url).start()  # beside the commits, not inside them
        processor = Processor(db, engine)
        await processor.start()
        channel = TelegramChannel(Host(settings, processor, engine.commands))
        app = web.Application()
        channel.mount(app)
        settle_heap()  # as App.start does
        await _serve(app, port, ready)

    asyncio.run(main())


def _seed(db, engine, users: int) -> None:
    """Every bench user is registered and in the middle of the list journey."""
    from chidoan.engine.context import Ctx
    from chidoan.engine.messages import Incoming
    from chidoan.storage.clock import utcnow
    from chidoan.storage.uow import unit_of_work

    now = utcnow()
    with unit_of_work(db) as uow:
        for i in range(users):
            uid = str(10_000 + i)
            sender = uow.accounts.create_with_identity(
                channel="telegram", external_id=uid, chat_id=uid, display_name=f"User {i}", locale="vi", now=now
            )
            ctx = Ctx(
                uow=uow,
                incoming=Incoming("telegram", f"seed{i}", uid, uid),
                sender=sender,
                now=now,
                tz=engine.settings.tz,
                settings=engine.settings,
                engine=engine,
            )
            engine.runner.start(ctx, "bench")


def _run(app, port: int, ready) -> None:
    asyncio.run(_serve(app, port, ready))


async def _serve(app, port: int, ready) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ready.set()
    await asyncio.Event().wait()


def update(update_id: int, user: int, text: str) -> bytes:
    uid = 10_000 + user
    person = {"id": uid, "is_bot": False, "first_name": "Đoàn viên", "language_code": "vi"}
    message = {
        "message_id": update_id,
        "date": 1_790_000_000,
        "chat": {"id": uid, "type": "private"},
        "from": person,
        "text": text,
    }
    return json.dumps({"update_id": update_id, "message": message}, ensure_ascii=False).encode()


def bodies(count: int, users: int, start_id: int) -> list[bytes]:
    """Per user, alternating a task and "yes, another": each update advances a journey."""
    out = []
    for n in range(count):
        user, round_ = n % users, n // users
        text = f"Nhiệm vụ số {round_}: tổ chức sinh hoạt chủ điểm" if round_ % 2 == 0 else "có"
        out.append(update(start_id + n, user, text))
    return out


async def load(port: int, payloads: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    import aiohttp

    url = f"http://127.0.0.1:{port}{PATH}"
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    latencies: list[float] = []
    queue = iter(payloads)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for body in queue:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies


def run_phase(
    name: str, target, args: tuple, payloads: list[bytes], warmup: list[bytes], concurrency: int
) -> tuple[float, list[float]]:
    rate, latencies, _cpu = measure_phase(name, target, args, payloads, warmup, concurrency)
    return rate, latencies


def measure_phase(
    name: str, target, args: tuple, payloads: list[bytes], warmup: list[bytes], concurrency: int
) -> tuple[float, list[float], float]:
    """Updates/s, latencies, and the server's CPU seconds an update."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = _free_port()
    process = ctx.Process(target=target, args=(port, *args, ready), daemon=True)
    process.start()
    try:
        if not ready.wait(60):
            raise RuntimeError(f"{name} server did not start")
        asyncio.run(load(port, warmup, concurrency))
        cpu_before = _cpu_seconds(process.pid)
        elapsed, latencies = asyncio.run(load(port, payloads, concurrency))
        cpu = _cpu_seconds(process.pid) - cpu_before
    finally:
        process.terminate()
        process.join()
    rate = len(payloads) / elapsed
    print(
        f"{name:9s} {len(payloads)} updates in {elapsed:.2f} s: {rate:,.0f} updates/s; p50 {_ms(latencies, 50)} ms, "
        f"p99 {_ms(latencies, 99)} ms; server CPU {cpu / len(payloads) * 1e6:.0f} µs an update"
    )
    return rate, latencies, cpu / len(payloads)


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads (Linux): on a shared machine, where the clock also
    counts waiting for a core, the cost of an update is read from this."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(latencies: list[float], pct: int) -> str:
    return (
        f"{statistics.quantiles(latencies, n=100)[pct - 1] * 1000:.1f}"
        if pct != 50
        else f"{statistics.median(latencies) * 1000:.1f}"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_outbox(db_path: str, expected: int) -> None:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        events = conn.execute("SELECT count(*) FROM inbound_event").fetchone()[0]
        queued = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    print(f"stored: {events} inbound events, {queued} outbox rows (expected {expected} events)")
    if events != expected:
        raise SystemExit("some updates were acknowledged but not stored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=1_000)
    args = parser.parse_args()

    warmup = bodies(2_000, args.users, 1)
    payloads = bodies(args.updates, args.users, 1 + len(warmup))
    print(
        f"{args.updates} updates, {args.concurrency} concurrent connections, {args.users} users; cores: {os.cpu_count()}"
    )
    echo_rate, _, echo_cpu = measure_phase("echo", serve_echo, (), payloads, warmup, args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.sqlite3")
        rate, latencies, cpu = measure_phase(
            "pipeline", serve_pipeline, (db_path, args.users), payloads, warmup, args.concurrency
        )
        check_outbox(db_path, len(warmup) + len(payloads))
    print(
        f"pipeline: {rate:.0f} updates/s; echo: {echo_rate:.0f} updates/s; ratio: {rate / echo_rate:.2f}; "
        f"p50: {_ms(latencies, 50)} ms; p99: {_ms(latencies, 99)} ms; cpu ratio: {echo_cpu / cpu:.2f}"
    )


if __name__ == "__main__":
    main()
