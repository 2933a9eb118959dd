"""Documents rendered outside the transaction that stores them.

A plan's .docx takes about 47 ms to render. Rendered inside the handler it held the event's
transaction, and the database thread with it, for that long: every other reply waited. A handler
asks for a rendering with `Ctx.rendered(work, *args)`. Inside the service (the Processor defers)
the first time round it is not done: `NeedsRendering` undoes the batch's transaction; the
Processor renders on a thread of its own, with no transaction open and the database thread free,
then writes the batch again, and this time `rendered` returns the bytes made from the same data.
Elsewhere (the command line, the demo, tests driving the engine) it renders in line, as before.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class NeedsRendering(Exception):  # noqa: N818  (a request, not an error)
    """What the handler asked to render, before its transaction goes on."""

    def __init__(self, key: bytes, work: Callable[..., bytes], args: tuple[Any, ...]):
        super().__init__(getattr(work, "__qualname__", repr(work)))
        self.key = key
        self.work = work
        self.args = args
        self.asker: Any = None  # the event whose handler asked (set by the Processor)

    def render(self) -> bytes:
        return self.work(*self.args)


class Renders:
    """Renderings done ahead of the transaction that uses them, by what they are made from."""

    def __init__(self) -> None:
        self.defer = False  # set by the Processor: render outside the transaction
        self._done: dict[bytes, bytes] = {}
        self._lock = threading.Lock()  # the database threads and the event loop share it
        self._here = threading.local()

    @contextmanager
    def in_line(self) -> Iterator[None]:
        """On this thread, render in line (when rendering ahead failed or never settles)."""
        self._here.in_line = True
        try:
            yield
        finally:
            self._here.in_line = False

    def get(self, work: Callable[..., bytes], *args: Any) -> bytes:
        """The bytes of `work(*args)`: ready when rendered ahead from equal data, else rendered
        now (not deferring) or asked for (`NeedsRendering`)."""
        if not self.defer:
            return work(*args)
        key = _key(work, args)
        with self._lock:
            done = self._done.get(key)
        if done is not None:
            return done
        if getattr(self._here, "in_line", False):
            return work(*args)
        raise NeedsRendering(key, work, args)

    def put(self, request: NeedsRendering, content: bytes) -> None:
        with self._lock:
            self._done[request.key] = content

    def forget(self, requests: list[NeedsRendering]) -> None:
        """After the transaction that used them (or found its data changed since)."""
        with self._lock:
            for request in requests:
                self._done.pop(request.key, None)


def _key(work: Callable[..., bytes], args: tuple[Any, ...]) -> bytes:
    """What the rendering is made from: equal data gives an equal key."""
    made_of = pickle.dumps((work.__module__, work.__qualname__, args), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(made_of).digest()
