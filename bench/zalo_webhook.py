"""How fast the Zalo OA webhook answers, and whether it keeps Zalo's 2-second limit when the
database is busy.

Zalo gives a webhook 2 s and disables one that keeps failing, so the channel stores each event
as received and answers at once, and handles it afterwards (bot/channels/zalo_oa.py). This
bench runs chidoan's App (SQLite file, the real Zalo OA channel talking to the fake OA API of
tests/fake_zalo_oa.py) and POSTs signed `user_send_text` events from `--people` people at
`--concurrency` at a time. Each event is a real step: the person is not registered, so the
engine answers and the reply is queued and sent to the fake. Two rounds:

- free: the database thread has nothing else to do;
- busy: a job holds the database thread for `--hold` seconds while the events arrive.

It prints the acknowledgement latency (p50, p99, max), the events handled per second until the
last one is marked processed, and the answers that were not 200.

    .venv/bin/python bench/zalo_webhook.py [--events 2000] [--concurrency 16] [--hold 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chidoan.bot.app import App  # noqa: E402
from chidoan.storage.models import InboundEvent, table  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.fake_zalo_oa import APP_ID, SECRET, FakeZaloOA  # noqa: E402

E = table(InboundEvent)


async def post_all(
    url: str, zalo: FakeZaloOA, count: int, people: int, concurrency: int, tag: str
) -> list[tuple[int, float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    results: list[tuple[int, float]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body, headers = zalo.signed(zalo.text_event(f"84{i % people:07d}", f"{tag} {i}"))
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                results.append((response.status, time.perf_counter() - started))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return results


async def processed(app: App) -> int:
    return await app.processor.run(
        lambda uow: uow.conn.execute(
            select(func.count()).select_from(E).where(E.c.channel == "zalo", E.c.processed_at.is_not(None))
        ).scalar_one()
    )


def report(name: str, results: list[tuple[int, float]], handled: int, seconds: float) -> None:
    ms = sorted(latency * 1000 for _status, latency in results)
    refused = sum(1 for status, _ in results if status != 200)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name}: {len(results)} events; ack p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
        f"max {ms[-1]:.1f} ms; not 200: {refused}; handled {handled} in {seconds:.2f} s "
        f"({handled / seconds:,.0f} events/s)"
    )


async def run_round(app: App, zalo: FakeZaloOA, args: argparse.Namespace, name: str, hold: float) -> None:
    url = f"http://127.0.0.1:{app.settings.web_port}{app.settings.zalo_oa_webhook_path}"
    before = await processed(app)
    started = time.perf_counter()
    holding = asyncio.ensure_future(app.processor.run(lambda _uow: time.sleep(hold))) if hold else None
    results = await post_all(url, zalo, args.events, args.people, args.concurrency, name)
    if holding is not None:
        await holding
    target = before + sum(1 for status, _ in results if status == 200)
    while await processed(app) < target:
        await asyncio.sleep(0.02)
    report(name, results, target - before, time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with FakeZaloOA() as zalo:
            settings = make_settings(
                f"sqlite:///{folder}/bench.sqlite3",
                CHIDOAN_WEB_ENABLED=False,
                ZALO_OA_APP_ID=APP_ID,
                ZALO_OA_SECRET_KEY=SECRET,
                ZALO_OA_API_URL=zalo.base_url,
                ZALO_OA_ACCESS_TOKEN=zalo.token,
            )
            app = App(settings)
            await app.start()
            try:
                print(f"{args.events} events a round, {args.people} people, {args.concurrency} at a time")
                await run_round(app, zalo, args, "free", 0.0)
                await run_round(app, zalo, args, f"busy ({args.hold:g} s hold)", args.hold)
            finally:
                await app.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--hold", type=float, default=3.0)
    asyncio.run(main(parser.parse_args()))
