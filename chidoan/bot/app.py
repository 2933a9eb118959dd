"""Wiring: database, engine, processor, sender, channels, one aiohttp server.

Every worker takes updates; the leader (bot/leader.py; on SQLite the one process) also runs the
sweeps, the nudges, the jobs and the sender, started when it becomes leader and stopped when it
stops being one. On PostgreSQL it hears other workers' commits through LISTEN (bot/wakeup.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from datetime import datetime

from aiohttp import web
from sqlalchemy import text

from chidoan.bot import downloads
from chidoan.bot.alerts import Alerts
from chidoan.bot.channels import configured
from chidoan.bot.channels.base import Channel, Host
from chidoan.bot.checkpointer import Checkpointer
from chidoan.bot.jobs import Jobs
from chidoan.bot.leader import Leader
from chidoan.bot.metrics import CONTENT_TYPE, Metrics
from chidoan.bot.nudges import Nudges
from chidoan.bot.outage import Outage
from chidoan.bot.processor import Processor
from chidoan.bot.sender import Sender
from chidoan.bot.sweeps import Sweeps
from chidoan.bot.tasks import cancel, within
from chidoan.bot.wakeup import Listener
from chidoan.engine.dispatch import Engine
from chidoan.engine.notices import Window
from chidoan.handlers import build_engine
from chidoan.storage.clock import utcnow
from chidoan.storage.db import DatabaseNotReady, make_db, prepare
from chidoan.storage.documents import drain_deletions
from chidoan.storage.files import attach, store_from
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 3.0  # seconds
# At shutdown, seconds a request still under way gets to finish once the server stops listening
# (aiohttp's default is 60): SIGTERM must end the service within a few seconds.
SHUTDOWN_GRACE = 1.0
DRAIN_WITHIN = 10.0  # seconds the last replies may take to go out at a stop (the database may be away)
CHANNEL_RETRY = (2.0, 300.0)  # seconds: the first and the longest pause before starting a channel again


class StartupError(Exception):
    """The service cannot start; the message says why in one line (no traceback is needed)."""


class App:
    def __init__(
        self, settings, *, descriptions: dict[str, str] | None = None, engine: Engine | None = None, clock=utcnow
    ):
        self.settings = settings
        # On SQLite the WAL is checkpointed beside the commits, not inside them (bot/checkpointer.py).
        # PostgreSQL: a connection for each database thread (the lanes, as many for other work),
        # the arrivals' thread, and a few for health reads, downloads and the Zalo token's lock.
        self.db = make_db(settings.database_url, checkpoints=False, connections=2 * settings.db_threads + 4)
        # Every engine on this database (and the upgrade that moves files out of it) uses this store.
        self.files = attach(self.db, store_from(settings))
        self.checkpointer = Checkpointer(settings.database_url) if settings.is_sqlite else None
        try:
            prepare(self.db)
        except DatabaseNotReady as exc:
            self.db.dispose()
            raise StartupError(str(exc)) from None
        try:  # what a crash left between deleting documents and deleting their files
            drain_deletions(self.db, self.files)
        except Exception:
            log.warning("could not delete the files of deleted documents yet (%s)", self.files.where, exc_info=True)
        self.engine = engine or build_engine(settings)
        self.processor = Processor(self.db, self.engine, clock=clock)
        self.metrics = Metrics()
        # /healthz and /metrics are asked every few seconds: a database outage is logged once a minute.
        self.health_outage = Outage(log, "reading the database for /healthz and /metrics")
        self.host = Host(settings, self.processor, self.engine.commands, descriptions or {}, self.metrics)
        self.channels: dict[str, Channel] = configured(self.host)
        self.sender = Sender(self.processor, self.channels, clock=clock, window=Window.of(settings))
        self.sender.recorded.append(self.metrics.recorded)
        self.sweeps = Sweeps(self.processor, settings)
        self.sweeps.queued.append(self.metrics.queued)
        self.alerts = Alerts(self.processor, settings, self.metrics, self.leading)
        self.nudges = Nudges(self.processor, settings)
        self.jobs = Jobs(self.processor, settings, self.engine.jobs)
        self.leader = Leader(settings.database_url, clock=clock)
        self.leader.gained.append(self._lead)
        self.leader.lost.append(self._follow)
        self.listener = (
            Listener(
                settings.database_url, {"outbox": self.sender.wake, "nudges": self.nudges.ask, "jobs": self.jobs.ask}
            )
            if self.leader.postgres
            else None
        )
        self._runner: web.AppRunner | None = None
        self._starting: list[asyncio.Task] = []  # channels that could not start yet, tried again

    async def _lead(self) -> None:
        self.metrics.leader.set(1)  # at once, not at this worker's next scrape: the gauge is summed over workers
        if self.listener is not None:
            await self.listener.start()
        await self.sender.start()
        await self.sweeps.start()
        await self.nudges.start()
        await self.jobs.start()

    async def _follow(self) -> None:
        """Stop leading: what was started on becoming leader, the sender's round under way
        finished and recorded (its rows' lease keeps another leader off them meanwhile)."""
        self.metrics.leader.set(0)
        await self.sweeps.stop()
        await self.nudges.stop()
        await self.jobs.stop()
        await self.sender.stop()
        if self.listener is not None:
            await self.listener.stop()

    def http_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        if self.settings.workers > 1:  # which worker answered (tests, and a look behind a proxy)
            app.on_response_prepare.append(_worker_header)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        # Download links (bot/downloads.py): served whatever channels run, the web chat's own
        # links only while it is on.
        downloads.mount(app, self.processor.run, self.processor.clock, self.files, web_tokens=self.settings.web_enabled)
        for channel in self.channels.values():
            channel.mount(app)
        return app

    async def start(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.start()
        await self.processor.start()
        await self.alerts.start()
        await self.leader.start()
        self._runner = web.AppRunner(self.http_app(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        # Several workers (`chidoan run --workers N`) listen on one port: the kernel spreads the
        # connections over them.
        reuse = self.settings.workers > 1
        await web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port, reuse_port=reuse).start()
        log.info("listening on http://%s:%s", self.settings.web_host, self.settings.web_port)
        if self.settings.web_enabled:  # what a newcomer who ran scripts/run.sh needs next
            log.info(
                "web chat: open %s in a browser%s",
                web_chat_url(self.settings.web_host, self.settings.web_port),
                "; the demo people are in its list at the top, with the invite code of the one who has not joined yet"
                if self.host.descriptions
                else "",
            )
        if self.settings.web_exposed:  # allowed by CHIDOAN_WEB_PUBLIC=true
            log.warning(
                "the web chat has no login and listens on %r: anyone reaching port %s can act as any "
                "person and read their history (CHIDOAN_WEB_PUBLIC=true)",
                self.settings.web_host,
                self.settings.web_port,
            )
        for channel in self.channels.values():
            try:
                await channel.start()
            except RuntimeError:  # misconfigured (no token at all): starting again cannot help
                raise
            except Exception as exc:  # its platform unreachable (Telegram blocked): the others go on
                self._starting.append(asyncio.create_task(self._start_later(channel, exc), name="chidoan-channel"))
        settle_heap()

    async def _start_later(self, channel: Channel, first: Exception) -> None:
        """Start a channel whose platform could not be reached at start, trying again with a
        growing pause, so the other channels, the web chat and the sending of queued messages
        run meanwhile (a channel's sends retry on their own)."""
        outage, pause = Outage(log, f"starting the {channel.name} channel"), CHANNEL_RETRY[0]
        outage.failed(first)
        while True:
            await asyncio.sleep(pause)
            try:
                await channel.start()
            except Exception as exc:
                outage.failed(exc)
                pause = min(pause * 2, CHANNEL_RETRY[1])
            else:
                outage.worked()
                return

    async def stop(self) -> None:
        """Stop taking events, send what is queued, then close."""
        await self.sweeps.stop()
        await self.nudges.stop()
        await self.jobs.stop()
        await self.alerts.stop()
        for task in self._starting:
            await cancel(task)
        for channel in self.channels.values():
            await channel.stop()
        if self._runner:
            await self._runner.cleanup()
        if self.leader.held:  # still leading: what the last updates queued goes before the lock does
            await self.sender.stop()  # its round under way finishes and is recorded
            try:
                await within(self.processor_drain(), DRAIN_WITHIN)
            except Exception as exc:  # what did not go is sent by the next leader (its lease ends)
                log.warning("stopping: the last replies not all sent (%s)", type(exc).__name__)
        await self.leader.stop()
        await self.processor.stop()
        for channel in self.channels.values():
            await channel.close()
        self.db.dispose()
        if self.checkpointer is not None:
            await self.checkpointer.stop()

    async def processor_drain(self) -> None:
        """Let the sender push out what the last updates queued (bounded: shutdown must end)."""
        for _ in range(20):
            if await self.sender.drain_once() == 0:
                return

    async def run_forever(self) -> None:
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
        await self.stop()

    def leading(self) -> bool:
        """Whether this worker holds the leadership (bot/leader.py; on SQLite always)."""
        return self.leader.held

    async def _healthz(self, _request: web.Request) -> web.Response:
        """The database (a trivial query and the outbox's backlog, read through the processor, so a
        wedged database thread shows too, within HEALTH_TIMEOUT seconds), the leadership, the
        backlog. 200 while the database answers, else 503: a backlog is the admins' alert's
        business (bot/alerts.py), not a reason to restart the worker."""
        since = self.leader.since
        body: dict = {"leader": {"held": self.leading(), "since": since.isoformat() if since else None}}
        start = time.perf_counter()
        try:
            now, backlog = await within(self.processor.run(self._health_read), HEALTH_TIMEOUT)
        except Exception as exc:
            self.health_outage.failed(exc)
            body |= {"ok": False, "database": {"reachable": False}}
            return web.json_response(body, status=503)
        self.health_outage.worked()
        pending, oldest = backlog
        body |= {
            "ok": True,
            "database": {"reachable": True, "latency_ms": round((time.perf_counter() - start) * 1000, 1)},
            "outbox": {
                "pending": pending,
                "oldest_due_seconds": round((now - oldest).total_seconds()) if oldest is not None else 0,
            },
        }
        return web.json_response(body)

    def _health_read(self, uow: UnitOfWork) -> tuple[datetime, tuple[int, datetime | None]]:
        uow.conn.execute(text("SELECT 1"))
        now = self.processor.clock()
        return now, uow.outbox.backlog(now)

    async def _metrics(self, _request: web.Request) -> web.Response:
        """Prometheus' text format (bot/metrics.py); the backlog read now, within HEALTH_TIMEOUT.
        Without the database the counters are still shown (they matter most then)."""
        try:
            now, backlog = await within(self.processor.run(self._health_read), HEALTH_TIMEOUT)
        except Exception as exc:
            self.health_outage.failed(exc)
            now, backlog = self.processor.clock(), None
        else:
            self.health_outage.worked()
        body = self.metrics.exposition(backlog, now, self.leading())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _worker_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Chidoan-Worker"] = str(os.getpid())


def web_chat_url(host: str, port: int) -> str:
    """The address to open the web chat at from this machine (a wildcard host is reached on loopback)."""
    host = host.strip().strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def settle_heap() -> None:
    """Keep the garbage collector off the hot path. The tens of thousands of long-lived objects
    made at start-up (aiogram's and pydantic's models, SQLAlchemy's metadata) are moved out of
    its reach, and young collections run less often: measured in bench/pipeline.py, full
    collections over that heap were the 250 ms tail of webhook latency (p99 250 → 60 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
