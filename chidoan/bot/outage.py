"""One failure repeating while what it needs is down (the database, mostly): its first time is
logged at ERROR with the traceback, then one line a period while it lasts, then one when it
works again. A loop that retries every second wrote a traceback every second (thousands of
lines a minute) and buried everything else in the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

EVERY = 60.0  # seconds between the lines of one outage


class Outage:
    def __init__(
        self, log: logging.Logger, what: str, every: float = EVERY, clock: Callable[[], float] = time.monotonic
    ):
        self.log = log
        self.what = what
        self.every = every
        self.clock = clock
        self.since: float | None = None  # when the failures began
        self.failures = 0
        self._told = 0.0  # when the last line was written

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        self.failures += 1
        if self.since is None:
            self.since = self._told = now
            self.log.error("%s failed", self.what, exc_info=exc)
        elif now - self._told >= self.every:
            self._told = now
            self.log.error(
                "%s still failing: %d times in %.0f s, the last: %s",
                self.what,
                self.failures,
                now - self.since,
                _reason(exc),
            )

    def worked(self) -> None:
        if self.since is None:
            return
        self.log.warning(
            "%s works again, after %d failures in %.0f s", self.what, self.failures, self.clock() - self.since
        )
        self.since, self.failures = None, 0


def _reason(exc: BaseException) -> str:
    """The error's class and first line (a database error's text runs on with its SQL)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
