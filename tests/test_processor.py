"""Group commit: one failing event never takes its batch-mates down with it, and what no
database column can hold is cleaned at the door instead of failing the event."""

import asyncio

import pytest
from sqlalchemy import select

from chidoan.bot.processor import Processor
from chidoan.engine.messages import Incoming
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import InboundEvent
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, make_settings


def stored(db) -> dict[str, str | None]:
    with db.connect() as conn:
        return {e.event_id: e.text for e in conn.execute(select(InboundEvent.__table__))}


async def test_a_failing_event_does_not_fail_its_batch(settings, db, org):
    engine = build_engine(settings)
    real = engine.process

    def process(uow, incoming, now, isolate=False):
        if incoming.event_id == "bad":
            raise RuntimeError("the database refused it")
        return real(uow, incoming, now, isolate=isolate)

    engine.process = process
    processor = Processor(db, engine)
    await processor.start()
    try:
        results = await asyncio.gather(
            *(processor.submit(Incoming("web", event, event, event, text="/start")) for event in ("a", "bad", "c")),
            return_exceptions=True,
        )
    finally:
        await processor.stop()
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError)  # its channel is told (webhook 500, polling retries)
    assert set(stored(db)) == {"a", "c"}


async def test_a_handler_bug_is_answered_politely_and_the_event_kept(settings, db, org):
    from chidoan.handlers import basics

    app_engine = build_engine(settings)
    broken = next(c for c in app_engine.commands if c.name == "toi")
    object.__setattr__(broken, "run", lambda ctx, args: 1 / 0)
    try:
        processor = Processor(db, app_engine)
        await processor.start()
        results = await asyncio.gather(
            processor.submit(Incoming("web", "ok", "u1", "u1", text="/start", language_code="en")),
            processor.submit(Incoming("web", "boom", "u2", "u2", text="/toi", language_code="en")),
        )
        await processor.stop()
    finally:
        object.__setattr__(broken, "run", basics.me)
    assert results == [True, True]
    assert set(stored(db)) == {"ok", "boom"}
    with unit_of_work(db) as uow:
        [reply] = uow.outbox.for_chat("web", "u2")
        assert "something went wrong on our side" in reply.body["text"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_nul_and_lone_surrogates_are_cleaned_not_fatal(request, tmp_path, backend):
    from chidoan.bot.app import App
    from tests.conftest import seed_org

    url = f"sqlite:///{tmp_path}/x.sqlite3" if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = make_db(url)
    upgrade(db)
    seed_org(db)
    app = App(make_settings(url))
    await app.start()
    try:
        async with WebUser(app, "odd", "x" * 400, language="en") as user:  # a 400-character name too
            replies = await user.send_frame({"type": "text", "text": "a\x00b\ud800c", "id": "odd-1"})
            assert "not registered yet" in replies[0]["text"]
            replies = await user.send_frame({"type": "button", "payload": "j:" + "9" * 400, "id": "odd-2"})
            assert "no longer valid" in replies[0]["text"]
    finally:
        await app.stop()
    texts = stored(db)
    assert texts["odd:odd-1"] == "ab?c"
    with unit_of_work(db) as uow:
        assert len(uow.accounts.sender("web", "odd").display_name) == 255
    db.dispose()
