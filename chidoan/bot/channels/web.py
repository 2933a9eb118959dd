"""The local web chat: one page, a WebSocket per open tab, the same journeys as Telegram.

It is a local tool for trying the bot and for demos: it has no login (pick an identity), so it
binds to 127.0.0.1 by default. Keep it off a public interface (CHIDOAN_WEB_ENABLED=false).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections import defaultdict
from pathlib import Path

from aiohttp import WSMsgType, web

from chidoan.bot.channels.base import Limits, RetryLater
from chidoan.bot.processor import Processor
from chidoan.engine.messages import Incoming, InFile, Outgoing

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent.parent / "web" / "static"
USER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_FRAME = 16 * 1024 * 1024  # a photo (base64) fits; anything larger is refused by the socket


class WebChannel:
    name = "web"
    limits = Limits()  # local: no platform limits

    def __init__(self, processor: Processor, identities, history, file, max_file_kb: int):
        self.processor = processor
        self.max_file_kb = max_file_kb
        self.identities = identities  # async () -> list of {"id", "name", "description"}
        self.history = history  # async (user id) -> recent {"type": "message"|"mine", "text", ...}
        self.file = file  # async (token) -> (filename, bytes) or None
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/api/identities", self._list_identities)
        app.router.add_get("/ws", self._socket)
        app.router.add_get("/files/{token}", self._download)
        app.router.add_static("/static", STATIC)

    async def _page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _list_identities(self, _request: web.Request) -> web.Response:
        return web.json_response(await self.identities())

    async def _download(self, request: web.Request) -> web.Response:
        found = await self.file(request.match_info["token"])
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        filename, content = found
        return web.Response(
            body=content,
            content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        user = request.query.get("user", "")
        if not USER_ID.match(user):
            raise web.HTTPBadRequest(text="user must be 1-64 letters, digits, - or _")
        name = request.query.get("name") or None
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        if request.query.get("history"):  # the page shows where the conversation stands
            for item in await self.history(user):
                await ws.send_json(item)
        self._sockets[user].add(ws)
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self._receive(ws, user, name, frame.data)
        finally:
            self._sockets[user].discard(ws)
            if not self._sockets[user]:
                del self._sockets[user]
        return ws

    async def _receive(self, ws: web.WebSocketResponse, user: str, name: str | None, raw: str) -> None:
        try:
            data = json.loads(raw)
            event_id = str(data.get("id") or uuid.uuid4())[:64]
            media, file = self._file(data) if data.get("type") == "file" else (None, None)
            text = data.get("text") if data.get("type") == "text" else None
            payload = data.get("payload") if data.get("type") == "button" else None
            if [text, payload, media].count(None) != 2 or not isinstance(text or payload or "", str):
                raise ValueError("need a text, a button payload or a file")
        except (ValueError, AttributeError, binascii.Error) as exc:
            await ws.send_json({"type": "error", "error": str(exc)})
            return
        incoming = Incoming(
            channel=self.name,
            event_id=event_id,
            user_id=user,
            chat_id=user,
            text=text,
            payload=payload,
            media=media,
            file=file,
            display_name=name,
            language_code=data.get("language"),
        )
        try:
            await self.processor.submit(incoming)
        except Exception:  # not stored: say so, so the person sends it again (the page shows it)
            log.exception("web event %s not stored", event_id)
            await ws.send_json({"type": "error", "error": "not_stored", "id": event_id})
            return
        await ws.send_json({"type": "ack", "id": event_id})

    def _file(self, data: dict) -> tuple[str, InFile | None]:
        """A file picked in the page arrives base64-encoded; over the size limit it is refused."""
        content = base64.b64decode(data.get("data") or "", validate=True)
        mime = str(data.get("mime") or "application/octet-stream")[:100]
        media = "photo" if mime.startswith("image/") else "document"
        if len(content) > self.max_file_kb * 1024:
            return "too_big", None
        if not (mime.startswith("image/") or mime == "application/pdf"):
            return media, None
        return media, InFile(str(data.get("name") or "file")[:120], mime, content)

    async def send(self, chat_id: str, message: Outgoing) -> None:
        sockets = list(self._sockets.get(chat_id, ()))
        if not sockets:
            # Kept in the outbox until the person opens the chat again.
            raise RetryLater(2.0, "web chat not open", counts=False)
        body = {"type": "message", **message.to_body()}
        if message.attachment is not None:
            body["file"] = {"url": f"/files/{message.attachment.token}", "filename": message.attachment.filename}
        for ws in sockets:
            await ws.send_json(body)
