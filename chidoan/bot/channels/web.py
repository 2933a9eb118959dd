"""The local web chat: one page, a WebSocket per open tab, the same journeys as Telegram.

It is a local tool for trying the bot and for demos: it has no login (pick an identity), so it
binds to 127.0.0.1 by default, and another interface is refused at start unless
CHIDOAN_WEB_PUBLIC=true (bot/config.py). Keep it off in production (CHIDOAN_WEB_ENABLED=false).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import uuid
from collections import defaultdict
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web

from chidoan.bot.channels.base import Host, Limits, RetryLater
from chidoan.engine.messages import Incoming, InFile, Outgoing
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.i18n import gettext
from chidoan.storage.models import OutboxStatus, Role
from chidoan.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent.parent / "web" / "static"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
USER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_FRAME = 16 * 1024 * 1024  # a photo (base64) fits; anything larger is refused by the socket
EVENT_ID_MAX = 64  # InboundEvent.event_id
PLAIN_ID = re.compile(r"[A-Za-z0-9_\-.]+")
CLOSE_WAIT = 1.0  # seconds the open tabs get to answer the going-away close frame at shutdown


class BadFrame(ValueError):
    """A frame the page would never send; the reason goes back in an error frame."""


def event_id(user: str, client_id: str) -> str:
    """The stored id of a web event: the page's id is unique only within its person's chat, so
    it is scoped by the user ("an:w1x2"); one too long, or of other characters, becomes a digest
    (the "#" keeps the two forms apart: user ids have no "#")."""
    scoped = f"{user}:{client_id}"
    if len(scoped) <= EVENT_ID_MAX and PLAIN_ID.fullmatch(client_id):
        return scoped
    digest = hashlib.sha256(scoped.encode("utf-8", "surrogatepass")).hexdigest()
    return "#" + digest[: EVENT_ID_MAX - 1]


def _decode(raw: str) -> dict:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise BadFrame("not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("a frame is a JSON object")
    return data


def _string(data: dict, key: str, *, optional: bool = False) -> str:
    value = data.get(key)
    if optional and value is None:
        return ""
    if not isinstance(value, str):
        raise BadFrame(f"{key} must be a string")
    return value


def build(host: Host) -> WebChannel | None:
    return WebChannel(host) if host.settings.web_enabled else None


class WebChannel:
    name = "web"
    limits = Limits()  # local: no platform limits
    max_text = 100_000  # the page shows any length

    def __init__(self, host: Host):
        self.host = host
        self.max_file_kb = host.settings.max_file_kb
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)  # by person, for send()
        self._open: set[web.WebSocketResponse] = set()  # every tab, from its handshake on

    async def start(self) -> None:
        """The page's routes take events as soon as the server is up."""

    async def stop(self) -> None:
        """Open sockets are closed with the server (`_going_away`)."""

    async def close(self) -> None:
        """Nothing to release."""

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/api/identities", self._list_identities)
        app.router.add_get("/ws", self._socket)
        # "/files/{token}", the links of the documents it shows, is mounted by the App (bot/downloads.py).
        app.router.add_static("/static", STATIC)
        app.on_shutdown.append(self._going_away)

    async def _going_away(self, _app: web.Application) -> None:
        """At shutdown (the server has stopped listening) every open tab gets a close frame
        "going away" (1001), and the page reconnects once the service is back. Left open, a tab
        held the shutdown until the heartbeat gave up on it: 45 s."""
        closing = [
            asyncio.ensure_future(ws.close(code=WSCloseCode.GOING_AWAY, message=b"the service is stopping"))
            for ws in self._open
        ]
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_WAIT)

    async def _page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _list_identities(self, _request: web.Request) -> web.Response:
        descriptions = self.host.descriptions
        return web.json_response(await self.host.read(lambda uow: read_people(uow, descriptions)))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        user = request.query.get("user", "")
        if not USER_ID.match(user):
            raise web.HTTPBadRequest(text="user must be 1-64 letters, digits, - or _")
        name = request.query.get("name") or None
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        self._open.add(ws)
        try:
            await self._converse(ws, request, user, name)
        finally:
            self._open.discard(ws)
        return ws

    async def _converse(self, ws: web.WebSocketResponse, request: web.Request, user: str, name: str | None) -> None:
        if request.query.get("history"):  # the page shows where the conversation stands
            for item in await self.host.read(lambda uow: read_history(uow, user)):
                await ws.send_json(item)
        self._sockets[user].add(ws)
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._receive(ws, user, name, frame.data)
                elif frame.type == WSMsgType.BINARY:
                    await ws.send_json({"type": "error", "error": "frames are JSON text"})
        finally:
            self._sockets[user].discard(ws)
            if not self._sockets[user]:
                del self._sockets[user]

    async def _receive(self, ws: web.WebSocketResponse, user: str, name: str | None, raw: str) -> None:
        try:
            client_id, incoming = self._incoming(user, name, raw)
        except BadFrame as exc:  # no page sends these: a clean refusal, and the socket stays open
            await ws.send_json({"type": "error", "error": str(exc)})
            return
        try:
            await self.host.submit(incoming)
        except Exception:  # not stored: say so, so the person sends it again (the page shows it)
            log.exception("web event %s not stored", incoming.event_id)
            await ws.send_json({"type": "error", "error": "not_stored", "id": client_id})
            return
        await ws.send_json({"type": "ack", "id": client_id})

    def _incoming(self, user: str, name: str | None, raw: str) -> tuple[str, Incoming]:
        """The frame as an event, and the page's own id of it (acknowledged as sent)."""
        data = _decode(raw)
        client_id = data.get("id")
        if client_id is None or client_id == "":
            client_id = uuid.uuid4().hex
        elif isinstance(client_id, bool) or not isinstance(client_id, str | int):
            raise BadFrame("id must be a string")
        client_id = str(client_id)
        text = payload = media = file = None
        kind = data.get("type")
        if kind == "text":
            text = _string(data, "text")
        elif kind == "button":
            payload = _string(data, "payload")
        elif kind == "file":
            media, file = self._file(data)
        else:
            raise BadFrame("need a text, a button payload or a file")
        language = data.get("language")
        incoming = Incoming(
            channel=self.name,
            event_id=event_id(user, client_id),
            user_id=user,
            chat_id=user,
            text=text,
            payload=payload,
            media=media,
            file=file,
            display_name=name,
            language_code=language if isinstance(language, str) else None,
        )
        return client_id, incoming

    def _file(self, data: dict) -> tuple[str, InFile | None]:
        """A file picked in the page arrives base64-encoded; over the size limit it is refused."""
        encoded = data.get("data")
        if not isinstance(encoded, str):
            raise BadFrame("a file's data must be a base64 string")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise BadFrame("a file's data must be a base64 string") from None
        mime = _string(data, "mime", optional=True)[:100] or "application/octet-stream"
        filename = _string(data, "name", optional=True)[:120] or "file"
        media = "photo" if mime.startswith("image/") else "document"
        if len(content) > self.max_file_kb * 1024:
            return "too_big", None
        if not (mime.startswith("image/") or mime == "application/pdf"):
            return media, None
        return media, InFile(filename, mime, content)

    async def send(self, chat_id: str, message: Outgoing) -> None:
        sockets = list(self._sockets.get(chat_id, ()))
        if not sockets:
            # Kept in the outbox until the person opens the chat again.
            raise RetryLater(2.0, "web chat not open", counts=False)
        body = {"type": "message", **message.to_body()}
        if message.attachment is not None:
            body["file"] = {
                "url": f"/files/{message.attachment.token}",
                "filename": message.attachment.filename,
                "media": message.attachment.media,
            }
        for ws in sockets:
            await ws.send_json(body)


# ---- what the page reads ---------------------------------------------------------------------


def read_history(uow: UnitOfWork, user: str, limit: int = 40) -> list[dict]:
    """What was said in a web chat, oldest first: texts the person typed and messages sent."""
    sender = uow.accounts.sender("web", user)
    if sender is None:
        return []
    said = [
        (e.received_at, e.id, {"type": "mine", "text": e.text})
        for e in uow.events.of_account(sender.account_id, limit)
        if e.text is not None
    ]
    sent = [
        (o.created_at, o.id, _shown(uow, o.body))
        for o in uow.outbox.for_chat("web", user, limit)
        if o.status == OutboxStatus.sent
    ]
    ordered = sorted(said + sent, key=lambda x: (x[0], x[2]["type"] == "message", x[1]))
    return [item for _at, _id, item in ordered][-limit:]


def _shown(uow: UnitOfWork, body: dict) -> dict:
    """A sent message as the web chat shows it, with its document's download link while the
    document is kept (a /dulieu copy goes after CHIDOAN_KEEP_EXPORTS_DAYS)."""
    shown = {"type": "message", **body}
    document = uow.documents.get(body["document"]["id"]) if "document" in body else None
    if document is not None:
        shown["file"] = {"url": f"/files/{document.token}", "filename": document.filename}
    return shown


def read_people(uow: UnitOfWork, descriptions: dict[str, str]) -> list[dict]:
    """The picker: every web identity, described by its roles (or the demo's own hint)."""
    people = []
    for identity in uow.accounts.identities_of("web"):
        roles = uow.roles.active_of(identity.account_id)
        described = "; ".join(f"{gettext('vi', ROLE_LABELS[Role(r.role)])} — {r.name}" for r in roles)
        people.append(
            {
                "id": identity.external_id,
                "name": identity.full_name or identity.display_name or "",
                "description": descriptions.get(identity.external_id) or described or "Chưa đăng ký",
            }
        )
    return people
