"""Drives the hostile-input corpus through the real web channel at every kind of step, and keeps
the tally (tests/test_hostile.py sends a sample, bench/hostile.py all of it).

For each input and each context (a stranger, a registered secretary with nothing open, and a
meeting report at its date, choice, text and number steps) it checks: nothing is logged at ERROR
and no "something went wrong" apology is sent; the socket stays open (a malformed frame gets an
error frame, a frame over the size limit the protocol's close 1009); a text or a button gets at
least one reply and no reply is empty; the stored event holds exactly the NFC-normalised input
(NUL dropped, lone surrogates as "?"). After each input the person is put back at their step.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, WSMsgType
from sqlalchemy import select

from chidoan.i18n import LOCALES, gettext
from chidoan.storage.models import InboundEvent, ReportKind
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, add_member

CORPUS = Path(__file__).resolve().parent / "corpus.json"
MEETING_STEPS = {"date": "held_on", "choice": "kind", "text": "theme", "number": "total"}
CONTEXTS = ("unregistered", "idle", *MEETING_STEPS)
SORRY = "Sorry, something went wrong on our side. Your message was saved; please try again in a moment."
APOLOGIES = {gettext(locale, SORRY) for locale in LOCALES}
TIMEOUT = 10


def load_corpus() -> list[dict]:
    return json.loads(CORPUS.read_text(encoding="ascii"))


def materialise(entry: dict) -> str | bytes:
    if entry["kind"] == "binary":
        return base64.b64decode(entry["value"])
    repeat = entry.get("repeat", 1)
    return entry["value"] * repeat + entry.get("tail", "") * repeat


def sample(corpus: list[dict], per_class: int, seed: int) -> list[dict]:
    """A few of every class (seeded), leaving out the heavy (megabyte) entries."""
    rng = random.Random(seed)
    chosen = []
    for cls in sorted({e["class"] for e in corpus}):
        light = [e for e in corpus if e["class"] == cls and not e.get("heavy")]
        chosen += rng.sample(light, min(per_class, len(light)))
    return chosen


def stored_form(value: str) -> str:
    """What the door must store: the text as the server decodes it, without NUL, lone surrogates
    as "?", NFC-normalised."""
    value = json.loads(json.dumps(value))  # a surrogate pair written as two escapes is one character
    value = "".join("?" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value).replace("\x00", "")
    return unicodedata.normalize("NFC", value)


@dataclass
class Tally:
    sent: int = 0
    exceptions: int = 0  # records logged at ERROR (a handler's failure, an event not stored, ...)
    apologies: int = 0  # "something went wrong" replies
    dropped: int = 0  # sockets closed that should have stayed open
    refused: int = 0  # frames over the size limit, closed with 1009 as they should be
    problems: list[str] = field(default_factory=list)  # no reply, empty reply, text stored wrong
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"inputs sent: {self.sent}; exceptions: {self.exceptions}; apologies: {self.apologies}; "
            f"dropped connections: {self.dropped}; oversize frames refused (1009): {self.refused}; "
            f"other problems: {len(self.problems)}; seconds: {self.seconds:.1f}"
        )


class ErrorRecords(logging.Handler):
    """The records logged at ERROR or above while attached (the hostile corpus, the fuzzer)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def prepare(db) -> dict:
    """The people of each context and real ids for forged buttons: a plan draft never submitted,
    a meeting report and a dialogue promise of the secretary's unit. Needs `seed_org` first."""
    now = datetime.now(UTC)
    ids = {"idle": add_member(db, "h-idle", "Lê Văn Cường", "RG-VB", "secretary", locale="en")}
    for context in MEETING_STEPS:
        ids[context] = add_member(db, f"h-{context}", "Phạm Minh Dũng", "RG-VB-KP1", "secretary", locale="en")
    with unit_of_work(db) as uow:
        unit = uow.units.by_code("RG-VB")
        ids["reg"] = uow.registrations.open(unit.id, "three_proactives_2023_2027", 2027, now).id
        held = date.today() - timedelta(days=3)
        meeting = {
            "held_on": held.isoformat(),
            "kind": "regular",
            "theme": "Học tập Nghị quyết",
            "total": 25,
            "present": 20,
            "content": "Quán triệt nghị quyết",
        }
        ids["report"] = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.meeting, held_on=held, data=meeting, account_id=ids["idle"], now=now
        )
        dialogue = uow.reports.add(
            unit_id=unit.id, kind=ReportKind.dialogue, held_on=held, data={}, account_id=ids["idle"], now=now
        )
        ids["commitment"] = uow.reports.add_commitment(
            report_id=dialogue,
            unit_id=unit.id,
            promise="Khảo sát mặt bằng sân bóng",
            promised_by="Chủ tịch UBND phường",
            due_on=held,
            now=now,
        )
    return ids


class Person(WebUser):
    """A web-chat user who can also send raw frames and reconnect after a close."""

    def __init__(self, app, user_id: str):
        super().__init__(app, user_id, language="en")
        self.buffer: list[dict] = []

    async def reconnect(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
        url = f"http://127.0.0.1:{self.app.settings.web_port}/ws"
        self.ws = await self._session.ws_connect(url, params={"user": self.user_id}, max_msg_size=0)

    async def frame(self) -> aiohttp.WSMessage:
        return await self.ws.receive(timeout=TIMEOUT)

    async def send_entry(self, body: dict) -> tuple[str, dict | None, aiohttp.WSMessage | None]:
        """Send a text or button frame; (client id, the ack or error frame, or the close message)."""
        client_id = uuid.uuid4().hex
        await self.ws.send_str(json.dumps({"id": client_id, "language": "en"} | body))
        while True:
            message = await self.frame()
            if message.type != WSMsgType.TEXT:
                return client_id, None, message
            data = json.loads(message.data)
            if data.get("type") in ("ack", "error"):
                return client_id, data, None
            self.buffer.append(data)

    async def replies(self) -> list[dict]:
        rows = await self._delivered()
        new, self._seen = rows[self._seen :], len(rows)
        wanted = sum(1 for r in new if r.status == "sent")
        while len(self.buffer) < wanted:
            message = await self.frame()
            if message.type != WSMsgType.TEXT:
                raise ConnectionError(f"socket closed while replies were due: {message.type}")
            self.buffer.append(json.loads(message.data))
        self.last, self.buffer = self.buffer[:wanted], self.buffer[wanted:]
        return self.last


class Run:
    def __init__(self, app, db, ids: dict, tally: Tally):
        self.app, self.db, self.ids, self.tally = app, db, ids, tally

    def state(self, user: str):
        with unit_of_work(self.db) as uow:
            sender = uow.accounts.sender("web", user)
            return uow.conversations.active(sender.account_id) if sender else None

    def stored(self, *event_ids: str):
        """The event under its id (scoped by the user; the bare page id is looked up too)."""
        with self.db.connect() as conn:
            table = InboundEvent.__table__
            query = select(table).where(table.c.channel == "web", table.c.event_id.in_(event_ids))
            return conn.execute(query).first()

    async def settle(self, person: Person, context: str) -> None:
        """Put the person back at their context's step."""
        state = self.state(person.user_id)
        if context in ("unregistered", "idle"):
            if state is not None:
                await self.drive(person, "/huy")
            return
        target = MEETING_STEPS[context]
        if state is not None and state.journey == "meeting" and state.step == target:
            return
        await self.drive(person, "/sinhhoat")
        for answer, step in (("hôm qua", "held_on"), ("1", "kind"), ("Chủ đề kiểm thử", "theme")):
            if step == target:
                return
            await self.drive(person, answer)

    async def drive(self, person: Person, text: str) -> None:
        await person.send_entry({"type": "text", "text": text})
        await person.replies()

    def placeholders(self, person: Person, payload: str) -> str:
        state = self.state(person.user_id)
        j = f"j:{state.id}.{state.version}." if state is not None else "j:1.1."
        return (
            payload.replace("{j}", j)
            .replace("{reg}", str(self.ids["reg"]))
            .replace("{report}", str(self.ids["report"]))
            .replace("{commitment}", str(self.ids["commitment"]))
        )

    def problem(self, context: str, entry: dict, what: str) -> None:
        value = entry["value"] if isinstance(entry["value"], str) else ""
        self.tally.problems.append(f"{context} / {entry['class']} {value[:40]!r}: {what}")

    async def one(self, person: Person, context: str, entry: dict) -> None:
        value = materialise(entry)
        self.tally.sent += 1
        if entry["kind"] in ("raw", "binary"):
            return await self.raw(person, context, entry, value)
        body = (
            {"type": "text", "text": value}
            if entry["kind"] == "text"
            else {"type": "button", "payload": self.placeholders(person, value)}
        )
        client_id, answer, closed = await person.send_entry(body)
        if closed is not None:
            self.tally.dropped += 1
            self.problem(context, entry, f"socket closed: {closed.type} {closed.data}")
            return await person.reconnect()
        if answer["type"] != "ack":
            return self.problem(context, entry, f"refused: {answer}")
        replies = await person.replies()
        texts = [m.get("text") for m in replies]
        if not texts or not all(texts):
            self.problem(context, entry, f"replies {texts}")
        self.tally.apologies += sum(1 for t in texts if t in APOLOGIES)
        row = self.stored(f"{person.user_id}:{client_id}", client_id)
        sent = body.get("text", body.get("payload"))
        expected = stored_form(sent) if entry["kind"] == "text" else stored_form(sent)[:256]
        got = None if row is None else row.text if entry["kind"] == "text" else row.payload
        if row is None or got != expected:
            self.problem(context, entry, "not stored as sent")

    async def raw(self, person: Person, context: str, entry: dict, value: str | bytes) -> None:
        try:
            await (person.ws.send_bytes(value) if isinstance(value, bytes) else person.ws.send_str(value))
        except ConnectionError:  # closed while the frame was still being written: read why below
            if entry.get("expect") != "close":
                raise
        message = await person.frame()
        if entry.get("expect") == "close":
            if message.type == WSMsgType.CLOSE and message.data == WSCloseCode.MESSAGE_TOO_BIG:
                self.tally.refused += 1
            else:
                self.problem(context, entry, f"expected close 1009, got {message.type} {str(message.data)[:60]}")
            return await person.reconnect()
        if message.type != WSMsgType.TEXT:
            self.tally.dropped += 1
            self.problem(context, entry, f"socket closed: {message.type} {message.data}")
            return await person.reconnect()
        data = json.loads(message.data)
        if data.get("type") != "error":
            self.problem(context, entry, f"no error frame: {message.data[:80]}")
            if data.get("type") == "ack":  # taken as an event: its replies are due
                await person.replies()


async def run(app, db, ids: dict, entries: list[dict], contexts=CONTEXTS, progress=None) -> Tally:
    tally = Tally()
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    started = time.perf_counter()
    runner = Run(app, db, ids, tally)
    try:
        for context in contexts:
            user = f"h-stranger-{uuid.uuid4().hex[:8]}" if context == "unregistered" else f"h-{context}"
            async with Person(app, user) as person:
                await runner.settle(person, context)
                for entry in entries:
                    try:
                        await runner.one(person, context, entry)
                    except (TimeoutError, ConnectionError, AssertionError) as exc:
                        runner.problem(context, entry, f"{type(exc).__name__}: {exc}")
                        await person.reconnect()
                    await runner.settle(person, context)
                if progress:
                    progress(context, tally)
    finally:
        logging.getLogger().removeHandler(errors)
    tally.exceptions = len(errors.records)
    tally.seconds = time.perf_counter() - started
    return tally
