"""Seconds from SIGTERM to exit with web-chat tabs open: the real `chidoan run` in a child
process (a fresh SQLite database in a temporary folder), TABS WebSocket clients connected,
then SIGTERM, RUNS times. Each tab should get a close frame "going away" (1001).

Before the fix a run with tabs open took 46.9 s (the heartbeat gave up on the sockets); now it
takes a fraction of a second. tests/test_shutdown.py guards against the regression (under 15 s,
with room for a loaded CI machine); this benchmark measures the figure.

Run: python bench/shutdown.py [--tabs 2] [--runs 3] [--demo]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, WSMsgType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import command_env, free_port, wait_healthy  # noqa: E402


async def one_run(tabs: int, demo: bool) -> tuple[float, int]:
    """(seconds to stop, tabs that got a going-away close frame)."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "chidoan", "run", *(["--demo"] if demo else [])],
            cwd=folder,
            env=command_env(CHIDOAN_DATA_DIR=folder, CHIDOAN_WEB_PORT=str(port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with aiohttp.ClientSession() as session:
                await wait_healthy(session, port, process)
                sockets = [
                    await session.ws_connect(f"http://127.0.0.1:{port}/ws", params={"user": f"tab-{i}"})
                    for i in range(tabs)
                ]
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                frames = await asyncio.gather(*(asyncio.wait_for(ws.receive(), 60) for ws in sockets))
                await asyncio.to_thread(process.wait, 120)
                took = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    closed = sum(f.type == WSMsgType.CLOSE and f.data == WSCloseCode.GOING_AWAY for f in frames)
    return took, closed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="start with the demo data loaded")
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        took, closed = await one_run(args.tabs, args.demo)
        times.append(took)
        print(f"run {run}: stopped in {took:.2f} s; {closed}/{args.tabs} tabs got a going-away close frame")
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s ({os.cpu_count()} cores)")


if __name__ == "__main__":
    asyncio.run(main())
