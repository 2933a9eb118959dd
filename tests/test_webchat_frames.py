"""The web chat's socket against frames no page sends (issue 7): each gets a clean error frame,
the socket stays open, nothing is logged as an error; and one person's message ids are theirs."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from aiohttp import WSMsgType
from sqlalchemy import select

from chidoan.storage.models import InboundEvent
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser

DEEP = "[" * 10_000 + "]" * 10_000
MALFORMED = [
    json.dumps({"type": "file", "data": 123, "mime": "image/png"}),
    json.dumps({"type": "file", "data": ["iVBOR"], "mime": "image/png"}),
    json.dumps({"type": "file", "data": {"a": 1}}),
    json.dumps({"type": "file", "data": "%%% not base64"}),
    json.dumps({"type": "file", "mime": "image/png"}),
    json.dumps({"type": "file", "data": None}),
    json.dumps({"type": "file", "data": "", "mime": 5}),
    json.dumps({"type": "file", "data": "", "mime": "image/png", "name": ["x"]}),
    json.dumps({"type": "text", "text": 0}),
    json.dumps({"type": "text", "text": False}),
    json.dumps({"type": "text", "text": ["hi"]}),
    json.dumps({"type": "text", "text": {"$gt": ""}}),
    json.dumps({"type": "button", "payload": 0}),
    json.dumps({"type": "button", "payload": None}),
    json.dumps({"type": "nothing"}),
    json.dumps({"type": "text", "text": "hi", "id": {"x": 1}}),
    DEEP,
    '{"a":' * 10_000 + "1" + "}" * 10_000,
    "not json at all",
    "",
    "[1, 2]",
    "5",
    "null",
    '"text"',
    '{"type": "text", "text": "\\ud800"',  # cut short
]


@pytest.fixture
def errors(caplog):
    caplog.set_level(logging.ERROR)
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


async def socket(app, user: str):
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"http://127.0.0.1:{app.settings.web_port}/ws", params={"user": user})
    return session, ws


async def test_malformed_frames_get_an_error_frame_and_the_socket_stays_open(app, db, errors):
    session, ws = await socket(app, "fuzzer")
    try:
        for raw in [*MALFORMED, b"\x00\x01binary"]:
            if isinstance(raw, bytes):
                await ws.send_bytes(raw)
            else:
                await ws.send_str(raw)
            reply = await ws.receive(timeout=30)
            assert reply.type == WSMsgType.TEXT, (raw[:40], reply)
            assert json.loads(reply.data)["type"] == "error", raw[:40]
        # well-formed frames still work, on the same socket; a non-string language is ignored
        await ws.send_str(json.dumps({"type": "text", "text": "/start", "id": "ok-1", "language": 5}))
        assert json.loads((await ws.receive(timeout=30)).data) == {"type": "ack", "id": "ok-1"}
        assert not ws.closed
    finally:
        await ws.close()
        await session.close()
    assert errors() == []


async def test_two_people_may_use_the_same_message_id(app, db, errors):
    long_name = "u" * 64  # the longest user id the socket takes: its own ids must still differ
    async with (
        WebUser(app, "first", language="en") as first,
        WebUser(app, "second", language="en") as second,
        WebUser(app, long_name, language="en") as third,
    ):
        assert await first.send_frame({"type": "text", "text": "/help", "id": "same-1"})
        assert await second.send_frame({"type": "text", "text": "/help", "id": "same-1"})
        assert await third.send_frame({"type": "text", "text": "/help", "id": "x" * 100 + "1"})
        assert await third.send_frame({"type": "text", "text": "/toi", "id": "x" * 100 + "2"})
        assert await first.send_frame({"type": "text", "text": "/help", "id": "same-1"}) == []  # a real duplicate
    with unit_of_work(db) as uow:
        for user, count in (("first", 1), ("second", 1), (long_name, 2)):
            account_id = uow.accounts.sender("web", user).account_id
            assert len(uow.events.of_account(account_id)) == count, user
        ids = [row.event_id for row in uow.conn.execute(select(InboundEvent.__table__))]
        assert len(ids) == len(set(ids)) == 4 and all(len(i) <= 64 for i in ids)
    assert errors() == []
