"""Events stored on arrival and handled afterwards (Processor.accept, Incoming.accepted): for a
platform that must be answered within seconds (Zalo). The stored row is the one handled, once;
a failure keeps that same row as failed; the schema's upgrade marks older events processed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from chidoan.bot.processor import Processor
from chidoan.engine.messages import Incoming
from chidoan.handlers import build_engine
from chidoan.storage.db import alembic_config, make_db
from chidoan.storage.models import InboundEvent, Outbox
from chidoan.storage.uow import unit_of_work

E = InboundEvent.__table__


def events(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(E).order_by(E.c.id)))


async def test_accepted_then_handled_once(settings, db, org):
    processor = Processor(make_db(settings.database_url), build_engine(settings))
    await processor.start()
    try:
        incoming = Incoming("zalo", "m1", "u1", "u1", text="/start")
        assert await processor.accept(incoming, '{"raw": "body"}') is True
        assert await processor.accept(incoming, '{"raw": "again"}') is False  # a duplicate delivery
        [row] = events(db)
        assert (row.processed_at, row.account_id, row.kind, row.text, row.raw) == (
            None,
            None,
            "text",
            "/start",
            '{"raw": "body"}',
        )
        with unit_of_work(db) as uow:
            assert [r.event_id for r in uow.events.unprocessed("zalo")] == ["m1"]
            assert uow.events.unprocessed("telegram") == []
        handled = dataclasses.replace(incoming, accepted=True)
        assert await processor.submit(handled) is True
        assert await processor.submit(handled) is False  # handled once
        [row] = events(db)
        assert row.processed_at is not None and row.account_id is not None
        with db.connect() as conn:
            assert len(list(conn.execute(select(Outbox.__table__)))) == 1  # one reply, not two
        # An event never accepted is not handled through the accepted path.
        assert await processor.submit(Incoming("zalo", "m2", "u1", "u1", text="/start", accepted=True)) is False
    finally:
        await processor.stop()


async def test_an_accepted_event_that_fails_is_that_row_kept_as_failed(settings, db, org):
    processor = Processor(make_db(settings.database_url), build_engine(settings))
    await processor.start()
    try:
        incoming = Incoming("zalo", "m3", "u3", "u3", text="hello")
        await processor.accept(incoming, '{"the": "zalo body"}')
        assert await processor.keep_failed(incoming, "RuntimeError: boom", '{"other": 1}') is True
        [row] = events(db)
        assert row.failed_at is not None and row.error == "RuntimeError: boom"
        assert row.raw == '{"the": "zalo body"}'  # the body as received stays
        assert await processor.keep_failed(incoming, "again", None) is False
        with unit_of_work(db) as uow:
            assert uow.events.unprocessed("zalo") == []
    finally:
        await processor.stop()


async def test_normal_events_are_processed_when_stored(settings, db, org):
    processor = Processor(make_db(settings.database_url), build_engine(settings))
    await processor.start()
    try:
        await processor.submit(Incoming("web", "w1", "u4", "u4", text="/start"))
    finally:
        await processor.stop()
    [row] = events(db)
    assert row.processed_at == row.received_at


def test_the_upgrade_marks_earlier_events_processed(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    engine = make_db(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat(sep=" ")
    with engine.begin() as conn:
        for event_id, failed in (("done", None), ("dead", now)):
            conn.execute(
                text(
                    "INSERT INTO inbound_event (channel, event_id, kind, received_at, failed_at) "
                    "VALUES ('telegram', :e, 'text', :t, :f)"
                ),
                {"e": event_id, "t": now, "f": failed},
            )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        found = {
            r.event_id: r.processed_at for r in conn.execute(text("SELECT event_id, processed_at FROM inbound_event"))
        }
    assert found["done"] is not None and found["dead"] is None
    engine.dispose()
