"""Bugs the fuzz tests found (issue 12), each pinned by a plain test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from chidoan.engine.messages import Incoming
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import InboundEvent, Outbox
from chidoan.storage.uow import unit_of_work
from tests.conftest import seed_org
from tests.fuzz.webhooks import Served

OUTBOX = Outbox.__table__
EVENTS = InboundEvent.__table__
LONG_ID = "9" * 70  # longer than any column holding a chat id (64): only a forged body has one


def test_no_apology_goes_to_a_clipped_chat_id(db, settings):
    """An event that cannot be handled is kept as failed and its sender told, in its chat. A chat
    id too long for the outbox was clipped to 64 characters: the apology went to another chat
    (whoever's id those 64 characters are)."""
    engine = build_engine(settings)
    incoming = Incoming("telegram", "77", LONG_ID, LONG_ID, text="xin chào")
    with unit_of_work(db) as uow:
        assert engine.keep_failed(uow, incoming, "DataError: value too long", datetime.now(UTC), raw="{}")
    with db.connect() as conn:
        assert conn.execute(select(EVENTS.c.failed_at)).scalar() is not None  # kept
        assert list(conn.execute(select(OUTBOX.c.chat_id))) == []  # and nobody else told


@pytest.mark.postgres
@pytest.mark.parametrize("channel", ["telegram", "zalo_bot"])
def test_an_update_with_an_overlong_id_is_kept_and_nobody_else_is_told(pg_url, channel):
    """Through the webhook on PostgreSQL (which, unlike SQLite, refuses the 70-character chat id):
    answered 200, kept as failed, and no reply to the chat id cut to 64 characters."""
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    served = Served.start(pg_url)
    try:
        if channel == "telegram":
            person = {"id": int(LONG_ID), "is_bot": False, "first_name": "An"}
            chat = {"id": int(LONG_ID), "type": "private"}
            message = {"message_id": 1, "date": 0, "chat": chat, "from": person, "text": "xin chào"}
            assert served.telegram({"update_id": 77, "message": message}) == 200
            event_id = "77"
        else:
            message = {"message_id": "m1", "from": {"id": LONG_ID}, "chat": {"id": LONG_ID}, "text": "xin chào"}
            assert served.zalo_bot({"event_name": "message.text.received", "message": message}) == 200
            event_id = "m1"
        row = served.event(channel, event_id)
        assert row is not None and row.failed_at is not None and "too long" in row.error
        with db.connect() as conn:
            assert list(conn.execute(select(OUTBOX.c.chat_id))) == []
    finally:
        served.stop()
        db.dispose()
