"""`chidoan run` in a child process, as a deployment runs it: started, killed with SIGKILL at any
moment (no shutdown code runs), started again on the same port."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from chidoan.bot.app import App
from tests.conftest import command_env, free_port, make_settings, wait_healthy


class Worker:
    """One `chidoan run` process; `env` is its configuration (CHIDOAN_*, TELEGRAM_*)."""

    def __init__(self, log_dir: Path, env: dict[str, str], *, name: str = "worker"):
        self.port = 0
        # Its data (and file store) folder in the test's own: nothing written in the worktree.
        self.env = command_env(CHIDOAN_DATA_DIR=str(log_dir)) | env
        self.log_dir, self.name = log_dir, name
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0
        self.start_seconds: list[float] = []  # from spawn to /healthz answering, per start
        self.up = False  # answering /healthz since its last start, not killed or stopped since

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def spawn(self) -> None:
        # A new port at each start: a port left free by a killed worker may be taken meanwhile by
        # any process on the machine (what reaches the workers is the front, see webhook_worker).
        self.port = free_port()
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chidoan", "run"],
                cwd=self.log_dir,
                env=self.env | {"CHIDOAN_WEB_PORT": str(self.port)},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def start(self, within: float = 180.0) -> None:
        began = time.monotonic()
        self.spawn()
        assert self.process is not None
        try:
            async with aiohttp.ClientSession() as session:
                await wait_healthy(session, self.port, self.process, within)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log:\n{self.log.read_text()[-3000:]}") from None
        self.start_seconds.append(time.monotonic() - began)
        self.up = True

    async def kill9(self) -> None:
        """SIGKILL: the process ends wherever it is, mid-transaction or mid-send."""
        self.up = False
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
            self.kills += 1

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a clean stop: queued replies go out), SIGKILL if it takes longer than `timeout`."""
        process, self.process = self.process, None
        self.up = False
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
            return None


def webhook_worker(
    log_dir: Path, database_url: str, tg, public_url: str, *, name: str = "worker", **extra: str
) -> Worker:
    """A worker in Telegram webhook mode against the fake Bot API `tg`, its webhook set to
    `public_url` (the front the platform posts to: a TcpProxy in front of the workers); consent
    not asked (the scripted conversations are the joining journey alone), the send rate high (the
    pace is not under test)."""
    env = {
        "CHIDOAN_DATABASE_URL": database_url,
        "CHIDOAN_ASK_CONSENT": "false",
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.base_url,
        "TELEGRAM_WEBHOOK_URL": f"{public_url}/telegram/webhook",
        "TELEGRAM_RATE_PER_SECOND": "200",
    } | extra
    return Worker(log_dir, env, name=name)


def webhook_app(database_url: str, tg) -> App:
    """An in-process App in Telegram webhook mode against the fake Bot API `tg`, on a port of its
    own (the platform posts to it straight), the send rate high (the pace is not under test)."""
    return App(
        make_settings(
            database_url,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            TELEGRAM_WEBHOOK_URL="https://bot.example.vn/telegram/webhook",
            TELEGRAM_RATE_PER_SECOND=200,
            CHIDOAN_WEB_PORT=free_port(),
        )
    )
