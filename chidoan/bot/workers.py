"""`chidoan run --workers N`: N worker processes serving one port (webhook mode, PostgreSQL).

The parent brings the schema up to date once, then starts N children, each an ordinary
`chidoan run` told it is one of N (CHIDOAN_WORKERS): each listens on the same port with
SO_REUSEPORT, so the kernel spreads connections over them, and a person's updates are handled in
Telegram's order across them (see storage/events.py). The parent only supervises: SIGTERM or
SIGINT is passed on to every child and waited for; a child that dies is started again (after a
pause that grows while it keeps dying at once)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

POLL = 0.2  # seconds between looks at the children
STOP_WAIT = 30.0  # seconds the children get to stop before they are killed
RESTART_PAUSE = (0.5, 30.0)  # first and longest pause before a child that died is started again
STEADY = 10.0  # a child that ran this long died of something new: its pause starts over


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
    process: subprocess.Popen
    started: float
    pause: float = field(default=RESTART_PAUSE[0])


class Supervisor:
    def __init__(self, workers: int, command: list[str] | None = None):
        self.workers = workers
        self.command = command or [sys.executable, "-m", "chidoan", "run"]
        self.children: list[_Child] = []
        self._stopping = False

    def _spawn(self, number: int) -> subprocess.Popen:
        # The demo, if asked for, was loaded by the parent before.
        env = os.environ | {"CHIDOAN_WORKERS": str(self.workers), "CHIDOAN_DEMO": "false"}
        process = subprocess.Popen(self.command, env=env)
        log.info("worker %d of %d started (pid %d)", number, self.workers, process.pid)
        return process

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.children = [_Child(n, self._spawn(n), time.monotonic()) for n in range(1, self.workers + 1)]
        while not self._stopping:
            time.sleep(POLL)
            for child in self.children:
                self._watch(child)
        return self._stop_all()

    def _watch(self, child: _Child) -> None:
        """A child that died is started again, after its pause (the pause doubles while it keeps
        dying soon after its start: a database that is down, a setting that is wrong)."""
        code = child.process.poll()
        if code is None or self._stopping:
            return
        now = time.monotonic()
        if now - child.started >= STEADY:
            child.pause = RESTART_PAUSE[0]
        log.error(
            "worker %d (pid %d) exited with %s; starting it again in %.1f s",
            child.number,
            child.process.pid,
            code,
            child.pause,
        )
        deadline = now + child.pause
        while time.monotonic() < deadline and not self._stopping:
            time.sleep(POLL)
        if self._stopping:
            return
        child.pause = min(child.pause * 2, RESTART_PAUSE[1])
        child.process, child.started = self._spawn(child.number), time.monotonic()

    def _stop_all(self) -> int:
        """SIGTERM to every child, then wait (each drains its queue); kill what is left."""
        log.info("stopping %d worker(s)", len(self.children))
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) did not stop in time: killed", child.number, child.process.pid)
                child.process.kill()
                child.process.wait()
        return 0
