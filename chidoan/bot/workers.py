"""`chidoan run --workers N`: N worker processes serving one port (webhook mode, PostgreSQL).

The parent brings the schema up to date once and imports what a worker runs (aiogram alone is
seconds of CPU: its models are built at import), then forks N children, each an App told it is
one of N (CHIDOAN_WORKERS): they start at once, share the imported code's memory until they
write to it, and each listens on the same port with SO_REUSEPORT, so the kernel spreads
connections over them; a person's updates are handled in Telegram's order across them (see
storage/events.py). /metrics shows the whole service whichever worker answers (the counts kept
in files under one directory, see `_share_metrics`). The parent only supervises: SIGTERM or SIGINT is passed on to every child
and waited for; a child that dies is started again (after a pause that grows while it keeps
dying at once)."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

POLL = 0.2  # seconds between looks at the children
STOP_WAIT = 30.0  # seconds the children get to stop before they are killed
RESTART_PAUSE = (0.5, 30.0)  # first and longest pause before a child that died is started again
STEADY = 10.0  # a child that ran this long died of something new: its pause starts over
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode (bot/metrics.py)


def refusal(settings, workers: int) -> str | None:
    """Why `--workers` cannot run with these settings (one line), or None."""
    if workers < 1:
        return "--workers takes 1 or more"
    if workers == 1:
        return None
    if settings.is_sqlite:
        return "--workers above 1 needs PostgreSQL (CHIDOAN_DATABASE_URL): SQLite takes one writer, one process"
    if settings.web_enabled:
        return "--workers above 1 needs CHIDOAN_WEB_ENABLED=false: a web chat's browser would talk to one worker and be answered by another"
    return None


@dataclass
class _Child:
    number: int
    pid: int
    started: float
    pause: float = field(default=RESTART_PAUSE[0])


class Supervisor:
    def __init__(self, settings, workers: int):
        # The demo, if asked for, was loaded by the parent before.
        self.settings = settings.model_copy(update={"workers": workers, "demo": False})
        self.workers = workers
        self.children: list[_Child] = []
        self._stopping = False
        self.metrics_dir = ""

    def _spawn(self, number: int) -> int:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = _work(self.settings)
            except BaseException:
                log.exception("worker %d failed", number)
            finally:
                logging.shutdown()
                os._exit(code)
        log.info("worker %d of %d started (pid %d)", number, self.workers, pid)
        return pid

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.metrics_dir, made = _share_metrics()
        try:
            _preload(self.settings)
            self.children = [_Child(n, self._spawn(n), time.monotonic()) for n in range(1, self.workers + 1)]
            while not self._stopping:
                time.sleep(POLL)
                for child in self.children:
                    self._watch(child)
            return self._stop_all()
        finally:
            if made:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _watch(self, child: _Child) -> None:
        """A child that died is started again, after its pause (the pause doubles while it keeps
        dying soon after its start: a database that is down, a setting that is wrong)."""
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid == 0 or self._stopping:
            return
        code = os.waitstatus_to_exitcode(status)
        self._gone(child.pid)
        now = time.monotonic()
        if now - child.started >= STEADY:
            child.pause = RESTART_PAUSE[0]
        log.error(
            "worker %d (pid %d) exited with %s; starting it again in %.1f s",
            child.number,
            child.pid,
            code,
            child.pause,
        )
        deadline = now + child.pause
        while time.monotonic() < deadline and not self._stopping:
            time.sleep(POLL)
        if self._stopping:
            return
        child.pause = min(child.pause * 2, RESTART_PAUSE[1])
        child.pid, child.started = self._spawn(child.number), time.monotonic()

    def _stop_all(self) -> int:
        """SIGTERM to every child, then wait (each drains its queue); kill what is left."""
        log.info("stopping %d worker(s)", len(self.children))
        running = {child.pid: child for child in self.children if _alive(child.pid)}
        for pid in running:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while running and time.monotonic() < deadline:
            for pid in [pid for pid in running if os.waitpid(pid, os.WNOHANG)[0] != 0]:
                del running[pid]
            time.sleep(POLL / 4)
        for pid, child in running.items():
            log.error("worker %d (pid %d) did not stop in time: killed", child.number, pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        return 0

    def _gone(self, pid: int) -> None:
        """A worker that died: its gauges leave /metrics (its counters stay in the sums)."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)


def _alive(pid: int) -> bool:
    """Not exited (a child that exited unnoticed is reaped here)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False


def _share_metrics() -> tuple[str, bool]:
    """One /metrics for all the workers: each keeps its counts in files of its own under one
    directory, summed when scraped. PROMETHEUS_MULTIPROC_DIR if set (emptied: what is in it is
    a previous run's), else a temporary directory (True: made here, removed at the end).
    prometheus_client picks the mode when imported: before the parent imports what the workers
    run (`_preload`)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            f"prometheus_client was imported before {METRICS_DIR} was set: each worker would count apart"
        )
    given = os.environ.get(METRICS_DIR)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    directory = os.environ[METRICS_DIR] = given or tempfile.mkdtemp(prefix="chidoan-metrics-")
    return directory, not given


def _preload(settings) -> None:
    """Import what a worker runs (its channels' modules: aiogram's among them), then keep the
    collector off that heap, so each forked worker starts at once and shares it."""
    from chidoan.bot import app, channels

    for name in channels.modules(settings):
        importlib.import_module(name)
    del app
    gc.collect()
    gc.freeze()


def _work(settings) -> int:
    from chidoan.bot.app import App, StartupError

    try:
        application = App(settings)
    except StartupError as exc:
        log.error("not starting: %s", exc)
        return 1
    asyncio.run(application.run_forever())
    return 0
