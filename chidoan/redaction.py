"""What people sent, kept out of the log lines that may quote it (bot/logs.py redacts them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

SHORTEST_HIDDEN = 3  # "ok", "1": what people write that short says nothing about them
_hidden: ContextVar[tuple[str, ...]] = ContextVar("chidoan_log_hidden", default=())


@contextmanager
def hiding(*texts: str | None) -> Iterator[None]:
    """Keep these texts (what people wrote, their names) out of the lines logged within: a
    handler's error may quote what it failed on ("invalid literal for int(): '0912…'")."""
    token = _hidden.set(_hidden.get() + tuple(t for t in texts if t and len(t) >= SHORTEST_HIDDEN))
    try:
        yield
    finally:
        _hidden.reset(token)


def hidden() -> tuple[str, ...]:
    """The texts kept out of the lines logged now."""
    return _hidden.get()
