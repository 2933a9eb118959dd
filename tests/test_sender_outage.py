"""The sender while PostgreSQL is unreachable (through a TCP proxy the test cuts; the shared
server is never touched): a message that went out while the database was away has its outcome
kept and written once it is back, so it is not sent again; and no failure is left unretrieved
in a future (asyncio's "Future exception was never retrieved")."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from chidoan.bot import sender as sending
from chidoan.bot.channels.base import Limits
from chidoan.bot.sender import Sender
from chidoan.engine.messages import Outgoing
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import OutboxStatus
from tests.conftest import make_settings
from tests.faults.proxy import ProxyThread
from tests.test_sender import Recording, own_processor, queue, statuses

pytestmark = pytest.mark.postgres

CUT = 3.0  # seconds: three leases


class CutAfterFirstSend(Recording):
    """Delivers, and the database goes away just after the first send, before its outcome is written."""

    def __init__(self, proxy: ProxyThread):
        super().__init__(Limits())
        self.proxy = proxy
        self.cut = asyncio.Event()

    async def send(self, chat_id: str, message: Outgoing) -> None:
        await super().send(chat_id, message)
        if not self.cut.is_set():
            await asyncio.to_thread(self.proxy.cut)
            self.cut.set()


@pytest.fixture
def short_lease(monkeypatch):
    monkeypatch.setattr(sending, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(sending, "RENEW", 0.25)
    monkeypatch.setattr(sending, "KEEP_PAUSE_MAX", 0.5)


@pytest.fixture
async def unretrieved():
    """What asyncio reports through the loop's exception handler (a future's exception never
    retrieved among them), collected after a garbage collection."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context.get("message"))))
    yield reported
    loop.set_exception_handler(None)


def through(pg_url: str, proxy: ProxyThread) -> str:
    return make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)


async def wait_until(condition, timeout: float) -> None:
    began = time.monotonic()
    while not condition() and time.monotonic() - began < timeout:
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped during the cut"])
async def test_a_message_sent_while_the_database_went_away_is_recorded_when_it_is_back_not_sent_again(
    pg_url, short_lease, unretrieved, stopped
):
    """`stopped`: the sender is stopped during the cut (as when its worker stops leading, the
    leader's connection gone) and started again after it."""
    db = make_db(pg_url)
    upgrade(db)
    queue(db, "chat", ["m0", "m1"])
    server = make_url(pg_url)
    with ProxyThread((server.host or "127.0.0.1", server.port or 5432)) as proxy:
        processor = own_processor(make_settings(through(pg_url, proxy)))
        await processor.start()
        channel = CutAfterFirstSend(proxy)
        sender = Sender(processor, {"telegram": channel}, idle=0.1)
        await sender.start()
        try:
            await asyncio.wait_for(channel.cut.wait(), 20)
            if stopped:
                await sender.stop(timeout=0.5)  # its outcome could not be written meanwhile
            await asyncio.sleep(CUT)
            proxy.restore()
            if stopped:
                await sender.start()
            await wait_until(lambda: statuses(db).count(OutboxStatus.sent) == 2, 30)
            await asyncio.sleep(1.0)  # time to send anything twice
        finally:
            await sender.stop()
            await processor.stop()
            processor.db.dispose()
    gc.collect()
    texts = [t for _c, t, _a in channel.sent]
    print(f"\nsender outage ({'stopped' if stopped else 'running'}): sent {texts}, asyncio reported {unretrieved}")
    assert statuses(db) == [OutboxStatus.sent, OutboxStatus.sent]
    assert texts == ["m0", "m1"]  # m0 once: its outcome was kept while the database was away
    assert not [m for m in unretrieved if "never retrieved" in m]
    db.dispose()
