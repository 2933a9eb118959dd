"""A TCP proxy on loopback that a test controls: `cut()` closes every connection through it and
refuses new ones (a database that became unreachable), `restore()` lets them through again. The
server behind it is never touched. With several targets it is a load balancer in front of
workers: each connection goes to the next target that accepts it (round robin)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    def __init__(self, *targets: tuple[str, int]):
        self.targets = list(targets)  # the test may change them (a worker started on a new port)
        self._turn = 0
        self.port = 0
        self.cut_off = False
        self.refused = 0  # connections refused while cut
        self.dropped = 0  # connections closed by a cut
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._close_all()
        await self._server.wait_closed()

    def cut(self) -> None:
        self.cut_off = True
        self.dropped += len(self._open) // 2
        self._close_all()

    def restore(self) -> None:
        self.cut_off = False

    def _close_all(self) -> None:
        for writer in list(self._open):
            transport = writer.transport
            transport.abort()  # a reset, not a polite close: as when the network goes away
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            self.refused += 1
            writer.transport.abort()
            return
        upstream = await self._connect()
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._open.discard(w)
                w.transport.abort()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(targets := list(self.targets))):
            self._turn += 1
            target = targets[self._turn % len(targets)]
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(*target)
        return None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self.cut_off:
                    return
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if not writer.transport.is_closing():
                writer.write_eof()


class ProxyThread:
    """A TcpProxy on an event loop of its own thread: it keeps passing bytes (or refusing them)
    whatever the test's loop is doing, for instance waiting on an app that connects at start
    without yielding."""

    def __init__(self, *targets: tuple[str, int]):
        self.proxy = TcpProxy(*targets)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        self._call(self.proxy.__aenter__())
        return self

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def refused(self) -> int:
        return self.proxy.refused

    def __exit__(self, *exc: object) -> None:
        self._call(self.proxy.__aexit__())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self) -> None:
        self._call(_now(self.proxy.cut))

    def restore(self) -> None:
        self._call(_now(self.proxy.restore))

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)


async def _now(action) -> None:
    action()
