"""Capacity on PostgreSQL: the webhook pipeline with 1, 2 and 4 workers, one worker's memory with
100,000 accounts, and a cold start.

- workers: bench/pipeline.py's pipeline server (TelegramChannel → Processor → Engine → commit;
  replies wait in the outbox), N processes on one port with SO_REUSEPORT and CHIDOAN_WORKERS=N,
  as `chidoan run --workers N` runs them (so above one worker each update is stored on arrival
  and handled in its person's turn, see storage/events.py), on a fresh PostgreSQL database; the
  load from this process over CONCURRENCY keep-alive connections (the kernel spreads them over
  the workers), USERS people in the middle of a journey;
- rss: one such worker on a database of 100,000 accounts, after an update from each of
  RSS_PEOPLE of them (VmRSS of the worker process);
- start: `chidoan run` (PostgreSQL, schema current, web chat off, no channel) from spawn to its
  first 200 on /healthz, the median of three.

Run: python bench/scale.py [--updates 5000] [--concurrency 32]
Ends with `scale: 1w <a>/s; 2w <b>/s; 4w <c>/s; p99 <d> ms; rss <e> MB; start <f> s` (p99: of
the 2-worker run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline import SECRET, TOKEN, _free_port, _ms, _seed, bench_journey, bodies, load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("CHIDOAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ACCOUNTS = 100_000
RSS_PEOPLE = 20_000


def settings_for(url: str, workers: int):
    from chidoan.bot.config import Settings

    return Settings(
        _env_file=None,
        CHIDOAN_DATABASE_URL=url,
        CHIDOAN_WORKERS=workers,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL="http://127.0.0.1:9",  # never called: replies wait in the outbox
        TELEGRAM_WEBHOOK_URL="https://example.invalid/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )


def serve_worker(port: int, url: str, workers: int, ready) -> None:
    """One worker: the pipeline server on the shared port (`workers` 1: told it is alone, so
    without the per-person order: what the order costs)."""
    from aiohttp import web

    from chidoan.bot.app import settle_heap
    from chidoan.bot.channels.base import Host
    from chidoan.bot.channels.telegram import TelegramChannel
    from chidoan.bot.processor import Processor
    from chidoan.engine.dispatch import Engine
    from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
    from chidoan.handlers.onboarding import start_with_code
    from chidoan.storage.db import make_db

    settings = settings_for(url, workers)
    engine = Engine(
        settings, commands=COMMANDS, journeys=[*JOURNEYS, bench_journey()], actions=ACTIONS, on_code=start_with_code
    )

    async def main() -> None:
        processor = Processor(make_db(settings.database_url), engine)
        await processor.start()
        channel = TelegramChannel(Host(settings, processor, engine.commands))
        app = web.Application()
        channel.mount(app)
        settle_heap()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class Database:
    """A fresh PostgreSQL database, dropped at the end."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        self.name = f"chidoan_scale_{uuid.uuid4().hex[:8]}"
        self.url = make_url(PG_ADMIN).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> Database:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        from chidoan.storage.db import make_db, upgrade

        db = make_db(self.url)
        upgrade(db)
        db.dispose()
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def seed_journeys(url: str, users: int) -> None:
    from chidoan.engine.dispatch import Engine
    from chidoan.handlers import ACTIONS, COMMANDS, JOURNEYS
    from chidoan.handlers.onboarding import start_with_code
    from chidoan.storage.db import make_db

    settings = settings_for(url, 1)
    engine = Engine(
        settings, commands=COMMANDS, journeys=[*JOURNEYS, bench_journey()], actions=ACTIONS, on_code=start_with_code
    )
    db = make_db(url)
    _seed(db, engine, users)
    db.dispose()


def seed_accounts(url: str, count: int, first_user: int) -> None:
    """`count` Telegram accounts in bulk (user ids from `first_user`), as people who wrote once."""
    from sqlalchemy import text

    from chidoan.storage.db import make_db

    db = make_db(url)
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO account (locale, created_at) SELECT 'vi', now() FROM generate_series(1, :n)"),
            {"n": count},
        )
        conn.execute(
            text(
                "INSERT INTO channel_identity (channel, external_id, chat_id, account_id, display_name, reachable,"
                " created_at, last_seen_at, preferred)"
                " SELECT 'telegram', (:first + a.id)::text, (:first + a.id)::text, a.id, 'Người ' || a.id, true,"
                " now(), now(), false FROM account a WHERE NOT EXISTS"
                " (SELECT 1 FROM channel_identity i WHERE i.account_id = a.id)"
            ),
            {"first": first_user},
        )
    db.dispose()


def start_workers(port: int, url: str, workers: int, ordered: bool = True) -> list:
    ctx = multiprocessing.get_context("spawn")
    started = []
    for _ in range(workers):
        ready = ctx.Event()
        process = ctx.Process(target=serve_worker, args=(port, url, workers if ordered else 1, ready), daemon=True)
        process.start()
        started.append((process, ready))
    for _, ready in started:
        if not ready.wait(90):
            raise RuntimeError("a worker did not start")
    return [process for process, _ in started]


def stop_workers(processes: list) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def phase(workers: int, updates: int, users: int, concurrency: int, ordered: bool = True) -> tuple[float, list[float]]:
    with Database() as database:
        seed_journeys(database.url, users)
        port = _free_port()
        processes = start_workers(port, database.url, workers, ordered)
        try:
            asyncio.run(load(port, bodies(1_000, users, 1), concurrency))  # warm-up
            elapsed, latencies = asyncio.run(load(port, bodies(updates, users, 1_001), concurrency))
        finally:
            stop_workers(processes)
        check_stored(database.url, 1_000 + updates)
    rate = updates / elapsed
    print(
        f"{workers} worker(s){'' if ordered else ', unordered'}: {updates} updates in {elapsed:.2f} s: {rate:,.0f} updates/s; "
        f"p50 {_ms(latencies, 50)} ms, p99 {_ms(latencies, 99)} ms",
        flush=True,
    )
    return rate, latencies


def check_stored(url: str, expected: int) -> None:
    from sqlalchemy import text

    from chidoan.storage.db import make_db

    db = make_db(url)
    with db.connect() as conn:
        handled = conn.execute(text("SELECT count(*) FROM inbound_event WHERE processed_at IS NOT NULL")).scalar_one()
    db.dispose()
    if handled != expected:
        raise SystemExit(f"{handled} updates handled of {expected} acknowledged")


def rss_phase(concurrency: int) -> float:
    """VmRSS (MB) of one worker on 100,000 accounts, after an update from RSS_PEOPLE of them."""
    import json

    with Database() as database:
        seed_accounts(database.url, ACCOUNTS, 10_000)
        port = _free_port()
        processes = start_workers(port, database.url, 1)
        try:
            payloads = []
            for n in range(RSS_PEOPLE):
                uid = 10_000 + 1 + (n * 7919) % ACCOUNTS  # spread over the accounts
                message = {
                    "message_id": n + 1,
                    "date": 1_790_000_000,
                    "chat": {"id": uid, "type": "private"},
                    "from": {"id": uid, "is_bot": False, "first_name": "Đoàn viên", "language_code": "vi"},
                    "text": "xin chào",
                }
                payloads.append(json.dumps({"update_id": n + 1, "message": message}, ensure_ascii=False).encode())
            asyncio.run(load(port, payloads, concurrency))
            status = Path(f"/proc/{processes[0].pid}/status").read_text()
            rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
        finally:
            stop_workers(processes)
    print(f"rss: one worker, {ACCOUNTS:,} accounts, {RSS_PEOPLE:,} of them wrote: {rss:.0f} MB", flush=True)
    return rss


def start_phase(runs: int = 3) -> float:
    """Seconds from spawning `chidoan run` to its first 200 on /healthz (schema already current)."""
    import urllib.request

    times: list[float] = []
    cpu: list[float] = []
    with Database() as database:
        for _ in range(runs):
            port = _free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDOAN_", "TELEGRAM_", "ZALO_"))}
            env |= {
                "PYTHONPATH": str(ROOT),
                "CHIDOAN_DATABASE_URL": database.url,
                "CHIDOAN_WEB_PORT": str(port),
                "CHIDOAN_WEB_ENABLED": "false",
                "CHIDOAN_REMINDERS": "false",
            }
            began = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "chidoan", "run"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
            )
            try:
                while True:
                    if process.poll() is not None:
                        raise RuntimeError("chidoan run exited at start")
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                            if response.status == 200:
                                break
                    except OSError:
                        time.sleep(0.02)
                times.append(time.perf_counter() - began)
            finally:
                process.send_signal(signal.SIGKILL)  # its CPU time so far is what the start cost
                _, _, usage = os.wait4(process.pid, 0)
                process.returncode = -9
                cpu.append(usage.ru_utime + usage.ru_stime)
    print(
        f"start: {', '.join(f'{t:.2f}' for t in times)} s to the first 200 on /healthz "
        f"(CPU {', '.join(f'{c:.2f}' for c in cpu)} s)",
        flush=True,
    )
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--workers", default="1,2,4", help="the worker counts to measure")
    parser.add_argument("--parts", default="workers,rss,start", help="what to measure")
    parser.add_argument("--unordered", action="store_true", help="also 2 workers without the per-person order")
    args = parser.parse_args()
    print(
        f"{args.updates} updates a run, {args.concurrency} connections, {args.users} users; "
        f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rates, p99 = {}, {}
    parts = args.parts.split(",")
    for workers in (int(w) for w in args.workers.split(",")) if "workers" in parts else ():
        rate, latencies = phase(workers, args.updates, args.users, args.concurrency)
        rates[workers], p99[workers] = rate, _ms(latencies, 99)
    if args.unordered and "workers" in parts:
        phase(2, args.updates, args.users, args.concurrency, ordered=False)
    rss = rss_phase(args.concurrency) if "rss" in parts else 0.0
    start = start_phase() if "start" in parts else 0.0
    print(
        f"scale: 1w {rates.get(1, 0):.0f}/s; 2w {rates.get(2, 0):.0f}/s; 4w {rates.get(4, 0):.0f}/s; "
        f"p99 {p99.get(2, '-')} ms; rss {rss:.0f} MB; start {start:.2f} s"
    )


if __name__ == "__main__":
    main()
