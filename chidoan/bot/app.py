"""Wiring: database, engine, processor, sender, channels, one aiohttp server."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiohttp import web
from sqlalchemy import text

from chidoan.bot.channels.web import WebChannel
from chidoan.bot.followups import FollowUps
from chidoan.bot.processor import Processor
from chidoan.bot.sender import Sender
from chidoan.engine.dispatch import Engine
from chidoan.handlers import build_engine
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import gettext
from chidoan.storage.clock import utcnow
from chidoan.storage.db import DatabaseNotReady, make_engine, prepare
from chidoan.storage.models import OutboxStatus, Role
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 3.0  # seconds


class StartupError(Exception):
    """The service cannot start; the message says why in one line (no traceback is needed)."""


class App:
    def __init__(
        self, settings, *, descriptions: dict[str, str] | None = None, engine: Engine | None = None, clock=utcnow
    ):
        self.settings = settings
        self.db = make_engine(settings.database_url)
        try:
            prepare(self.db)
        except DatabaseNotReady as exc:
            self.db.dispose()
            raise StartupError(str(exc)) from None
        self.engine = engine or build_engine(settings)
        self.processor = Processor(self.db, self.engine, clock=clock)
        self.descriptions = descriptions or {}  # demo hints shown in the web chat's picker
        self.channels: dict = {}
        self.web: WebChannel | None = None
        self.telegram = None
        if settings.web_enabled:
            self.web = self.channels["web"] = WebChannel(
                self.processor, self.web_identities, self.web_history, self.web_file, settings.max_file_kb
            )
        if settings.telegram_bot_token:
            from chidoan.bot.channels.telegram import TelegramChannel

            self.telegram = self.channels["telegram"] = TelegramChannel(settings, self.processor, self.engine.commands)
        self.sender = Sender(self.processor, self.channels, clock=clock)
        self.followups = FollowUps(self.processor, settings)
        self._runner: web.AppRunner | None = None

    def http_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_get("/healthz", self._healthz)
        if self.web:
            self.web.register(app)
        if self.telegram and self.settings.telegram_webhook_url:
            self.telegram.register_webhook(app)
        return app

    async def start(self) -> None:
        await self.processor.start()
        await self.sender.start()
        await self.followups.start()
        self._runner = web.AppRunner(self.http_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port).start()
        log.info("listening on http://%s:%s", self.settings.web_host, self.settings.web_port)
        if self.settings.web_exposed:  # allowed by CHIDOAN_WEB_PUBLIC=true
            log.warning(
                "the web chat has no login and listens on %r: anyone reaching port %s can act as any "
                "person and read their history (CHIDOAN_WEB_PUBLIC=true)",
                self.settings.web_host,
                self.settings.web_port,
            )
        if self.telegram:
            await self.telegram.start()
        settle_heap()

    async def stop(self) -> None:
        """Stop taking events, send what is queued, then close."""
        await self.followups.stop()
        if self.telegram:
            await self.telegram.stop()
        if self._runner:
            await self._runner.cleanup()
        await self.sender.stop()  # its round under way finishes and is recorded
        await self.processor_drain()
        await self.processor.stop()
        if self.telegram:
            await self.telegram.close()
        self.db.dispose()

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

    async def _healthz(self, _request: web.Request) -> web.Response:
        """200 when the database answers a trivial query through the processor (its one thread,
        so a wedged thread shows too) within HEALTH_TIMEOUT seconds; else 503."""
        try:
            await asyncio.wait_for(self.processor.run(lambda uow: uow.conn.execute(text("SELECT 1"))), HEALTH_TIMEOUT)
        except Exception as exc:
            log.warning("healthz: the database does not answer (%s)", type(exc).__name__)
            return web.json_response({"ok": False, "database": "unavailable"}, status=503)
        return web.json_response({"ok": True, "database": "ok"})

    async def web_history(self, user: str, limit: int = 40) -> list[dict]:
        """What was said in a web chat, oldest first: texts the person typed and messages sent."""

        def read(uow: UnitOfWork) -> list[dict]:
            sender = uow.accounts.sender("web", user)
            if sender is None:
                return []
            said = [
                (e.received_at, e.id, {"type": "mine", "text": e.text})
                for e in uow.events.of_account(sender.account_id)[-limit:]
                if e.text is not None
            ]
            sent = [
                (o.created_at, o.id, _shown(uow, o.body))
                for o in uow.outbox.for_chat("web", user)[-limit:]
                if o.status == OutboxStatus.sent
            ]
            return [
                item for _at, _id, item in sorted(said + sent, key=lambda x: (x[0], x[2]["type"] == "message", x[1]))
            ][-limit:]

        return await self.processor.run(read)

    async def web_file(self, token: str) -> tuple[str, bytes] | None:
        document = await self.processor.run(lambda uow: uow.documents.by_token(token))
        return (document.filename, document.content) if document else None

    async def web_identities(self) -> list[dict]:
        def read(uow: UnitOfWork) -> list[dict]:
            people = []
            for identity in uow.accounts.identities_of("web"):
                roles = uow.roles.active_of(identity.account_id)
                described = "; ".join(f"{gettext('vi', ROLE_LABELS[Role(r.role)])} — {r.name}" for r in roles)
                people.append(
                    {
                        "id": identity.external_id,
                        "name": identity.full_name or identity.display_name or "",
                        "description": self.descriptions.get(identity.external_id) or described or "Chưa đăng ký",
                    }
                )
            return people

        return await self.processor.run(read)


def settle_heap() -> None:
    """Keep the garbage collector off the hot path. The tens of thousands of long-lived objects
    made at start-up (aiogram's and pydantic's models, SQLAlchemy's metadata) are moved out of
    its reach, and young collections run less often: measured in bench/pipeline.py, full
    collections over that heap were the 250 ms tail of webhook latency (p99 250 → 60 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _shown(uow: UnitOfWork, body: dict) -> dict:
    """A sent message as the web chat shows it, with its document's download link."""
    shown = {"type": "message", **body}
    if "document" in body:
        document = uow.documents.one(body["document"]["id"])
        shown["file"] = {"url": f"/files/{document.token}", "filename": document.filename}
    return shown
