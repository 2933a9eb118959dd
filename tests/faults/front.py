"""Workers behind one public address, as a deployment puts them behind a load balancer: the
platform posts to the front, which passes each connection to a live worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.fake_telegram import FakeTelegram
from tests.faults.proxy import TcpProxy
from tests.faults.worker import Worker, webhook_worker


class Front:
    def __init__(self, log_dir: Path, database_url: str, tg: FakeTelegram, count: int, **extra: str):
        self.proxy = TcpProxy()
        self._args = (log_dir, database_url, tg)
        self._extra = extra
        self.count = count
        self.workers: list[Worker] = []
        self._restarts: set[asyncio.Task] = set()
        self.failed: list[BaseException] = []  # restarts that did not come up

    async def __aenter__(self) -> Front:
        await self.proxy.__aenter__()
        self.workers = [
            webhook_worker(*self._args, self.url, name=f"worker{n}", **self._extra) for n in range(self.count)
        ]
        await asyncio.gather(*(self.start(w) for w in self.workers))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._restarts:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._restarts, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers))
        await self.proxy.__aexit__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    @property
    def webhook(self) -> str:
        return f"{self.url}/telegram/webhook"

    def alive(self) -> Iterator[Worker]:
        """Workers running and answering (not those still starting)."""
        return (w for w in self.workers if w.up)

    async def start(self, worker: Worker) -> None:
        await worker.start()
        self._route()

    async def kill9_and_restart(self, worker: Worker) -> None:
        """SIGKILL now; started again in the background (`settle` waits for it)."""
        await worker.kill9()
        self._route()
        task = asyncio.create_task(self.start(worker))
        self._restarts.add(task)
        task.add_done_callback(self._restarted)

    def _restarted(self, task: asyncio.Task) -> None:
        self._restarts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failed.append(task.exception())  # type: ignore[arg-type]

    async def settle(self) -> None:
        while self._restarts:
            await asyncio.gather(*self._restarts)

    @property
    def kills(self) -> int:
        return sum(w.kills for w in self.workers)

    @property
    def start_seconds(self) -> list[float]:
        return sorted(s for w in self.workers for s in w.start_seconds)

    def _route(self) -> None:
        self.proxy.targets = [("127.0.0.1", w.port) for w in self.alive()]
