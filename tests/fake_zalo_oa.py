"""A local fake of Zalo's Official Account Open API, spoken to by the real channel code
(chidoan/bot/channels/zalo_oa.py), and the webhook side: signed events POSTed to the app.

    async with FakeZaloOA() as zalo:
        settings = make_settings(..., ZALO_OA_API_URL=zalo.base_url, ZALO_OA_ACCESS_TOKEN=zalo.token, ...)
        await zalo.deliver(app_url, zalo.text_event("84901", "xin chào"))

It copies what the channel depends on (see /work/shared/ZALO.md): `POST /v3.0/oa/message/cs`
with the `access_token` header, text ≤ 2,000 characters, at most 5 template buttons;
`POST /v3.0/oa/message/template` (a template message by user id, its shape assumed); uploads of
files (→ token) and images (→ attachment_id) as multipart `file`; errors answered with HTTP 200
and `"error" != 0` (-216 for a token it does not know; any code on demand); attachment URLs to
download; and events shaped as Zalo sends them, signed as Zalo signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

APP_ID = "4305221960473459081"
SECRET = "oa-secret-key-for-tests"
OA_ID = "2492167443584745672"
TOKEN = "oa-access-token-1"
MAX_TEXT = 2000
MAX_BUTTONS = 5
MAX_FILE = 5 * 1024 * 1024
MAX_IMAGE = 1024 * 1024


@dataclass
class Call:
    path: str
    token: str | None
    body: dict[str, Any] = field(default_factory=dict)  # JSON body, or the form's fields
    file: tuple[str, bytes, str] | None = None  # (filename, bytes, content type) of an upload
    error: int = 0  # what the fake answered


def sign(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()


class FakeZaloOA:
    def __init__(self, app_id: str = APP_ID, secret: str = SECRET, token: str = TOKEN):
        self.app_id, self.secret = app_id, secret
        self.tokens = {token}  # access tokens it takes; any other is -216
        self.token = token
        self.calls: list[Call] = []
        self._failures: list[tuple[int, str | None, str]] = []  # (code, user or None, path part)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._uploads: dict[str, tuple[str, bytes]] = {}  # token or attachment_id -> (name, bytes)
        self._serial = itertools.count(1)
        self._msg_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeZaloOA:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/v3.0/oa/message/cs", self._message)
        app.router.add_post("/v3.0/oa/message/template", self._template)
        app.router.add_post("/v2.0/oa/upload/file", self._upload_file)
        app.router.add_post("/v2.0/oa/upload/image", self._upload_image)
        app.router.add_get("/files/{key}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- controlling it ---------------------------------------------------------------------

    def fail_next(self, code: int, user_id: str | None = None, times: int = 1, path: str = "message/cs") -> None:
        """Answer the next `times` calls to `path` (for this recipient, if given) with `code`."""
        self._failures += [(code, user_id, path)] * times

    def add_file(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve `data` at a URL, as Zalo serves a person's attachment; returns the URL."""
        key = f"f{next(self._serial)}"
        self._files[key] = (data, content_type)
        return f"{self.base_url}/files/{key}"

    def uploaded(self, token: str) -> tuple[str, bytes]:
        return self._uploads[token]

    # ---- reading what it got ------------------------------------------------------------------

    def messages(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The `message` of every message/cs call it accepted (for one recipient)."""
        return [
            c.body["message"]
            for c in self.calls
            if c.path.endswith("message/cs")
            and c.error == 0
            and (user_id is None or c.body["recipient"]["user_id"] == user_id)
        ]

    def templates(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The body of every message/template call it accepted (for one recipient)."""
        return [
            c.body
            for c in self.calls
            if c.path.endswith("message/template")
            and c.error == 0
            and (user_id is None or c.body["recipient"]["user_id"] == user_id)
        ]

    def calls_to(self, part: str) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(part)]

    # ---- the API ------------------------------------------------------------------------------

    def _failure(self, path: str, user_id: str | None) -> int:
        for i, (code, user, part) in enumerate(self._failures):
            if path.endswith(part) and (user is None or user == user_id):
                del self._failures[i]
                return code
        return 0

    def _answer(self, call: Call, code: int, message: str, data: dict[str, Any] | None = None) -> web.Response:
        call.error = code
        self.calls.append(call)
        body: dict[str, Any] = {"error": code, "message": message}
        if data is not None:
            body["data"] = data
        return web.json_response(body)  # HTTP 200 even for errors, as Zalo does

    async def _message(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token")
        try:
            body = await request.json()
        except ValueError:
            return self._answer(Call(request.path, token), -201, "body is not JSON")
        call = Call(request.path, token, body)
        if token not in self.tokens:
            return self._answer(call, -216, "Access token is invalid")
        user_id = (body.get("recipient") or {}).get("user_id")
        message = body.get("message") or {}
        if not isinstance(user_id, str) or not user_id:
            return self._answer(call, -201, "recipient.user_id is required")
        if code := self._failure(request.path, user_id):
            return self._answer(call, code, f"failure {code} on demand")
        text, attachment = message.get("text"), message.get("attachment")
        if text is None and attachment is None:
            return self._answer(call, -201, "message has neither text nor attachment")
        if text is not None and (not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT):
            return self._answer(call, -201, "text is empty or longer than 2000 characters")
        if attachment is not None and (problem := self._check_attachment(attachment)):
            return self._answer(call, -201, problem)
        msg_id = f"{next(self._msg_ids):032x}"
        return self._answer(call, 0, "Success", {"message_id": msg_id, "user_id": user_id})

    async def _template(self, request: web.Request) -> web.Response:
        """An approved template message by user id (the shape chidoan assumes, U): a known
        template id (any non-empty string here) and its data."""
        token = request.headers.get("access_token")
        try:
            body = await request.json()
        except ValueError:
            return self._answer(Call(request.path, token), -201, "body is not JSON")
        call = Call(request.path, token, body)
        if token not in self.tokens:
            return self._answer(call, -216, "Access token is invalid")
        user_id = (body.get("recipient") or {}).get("user_id")
        if not isinstance(user_id, str) or not user_id:
            return self._answer(call, -201, "recipient.user_id is required")
        if not isinstance(body.get("template_id"), str) or not isinstance(body.get("template_data"), dict):
            return self._answer(call, -201, "template_id and template_data are required")
        if code := self._failure(request.path, user_id):
            return self._answer(call, code, f"failure {code} on demand")
        return self._answer(call, 0, "Success", {"msg_id": f"{next(self._msg_ids):032x}"})

    def _check_attachment(self, attachment: dict[str, Any]) -> str | None:
        kind, payload = attachment.get("type"), attachment.get("payload") or {}
        if kind == "file":
            return None if payload.get("token") in self._uploads else "unknown file token"
        if kind != "template":
            return f"unknown attachment type {kind!r}"
        if "buttons" in payload:
            buttons = payload["buttons"]
            if not 1 <= len(buttons) <= MAX_BUTTONS:
                return "1 to 5 buttons"
            for b in buttons:
                if b.get("type") not in ("oa.query.hide", "oa.query.show", "oa.open.url"):
                    return "unknown button type"
                if not b.get("title") or not isinstance(b.get("payload"), str):
                    return "a button needs a title and a payload"
            return None
        if payload.get("template_type") == "media":
            ids = [e.get("attachment_id") for e in payload.get("elements") or []]
            return None if ids and all(i in self._uploads for i in ids) else "unknown attachment_id"
        return "unknown template"

    async def _upload(self, request: web.Request, limit: int) -> tuple[Call, str | None]:
        token = request.headers.get("access_token")
        call = Call(request.path, token)
        if request.content_type != "multipart/form-data":
            return call, "multipart/form-data expected"
        async for part in await request.multipart():
            if getattr(part, "name", None) == "file" and getattr(part, "filename", None):
                data = bytes(await part.read())  # type: ignore[union-attr]
                call.file = (part.filename, data, part.headers.get("Content-Type", ""))  # type: ignore[union-attr]
        if token not in self.tokens:
            return call, "-216"
        if call.file is None:
            return call, "no file"
        if not call.file[1] or len(call.file[1]) > limit:
            return call, "file empty or too big"
        return call, None

    async def _upload_file(self, request: web.Request) -> web.Response:
        call, problem = await self._upload(request, MAX_FILE)
        if problem == "-216":
            return self._answer(call, -216, "Access token is invalid")
        if problem:
            return self._answer(call, -201, problem)
        if code := self._failure(request.path, None):
            return self._answer(call, code, f"failure {code} on demand")
        assert call.file is not None
        token = f"file-token-{next(self._serial)}"
        self._uploads[token] = (call.file[0], call.file[1])
        return self._answer(call, 0, "Success", {"token": token})

    async def _upload_image(self, request: web.Request) -> web.Response:
        call, problem = await self._upload(request, MAX_IMAGE)
        if problem == "-216":
            return self._answer(call, -216, "Access token is invalid")
        if problem:
            return self._answer(call, -201, problem)
        assert call.file is not None
        attachment_id = f"image-{next(self._serial)}"
        self._uploads[attachment_id] = (call.file[0], call.file[1])
        return self._answer(call, 0, "Success", {"attachment_id": attachment_id})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        found = self._files.get(request.match_info["key"])
        if found is None:
            return web.Response(status=404)
        if len(found[0]) <= 64 * 1024:
            return web.Response(body=found[0], content_type=found[1])
        # A large file comes in pieces, a moment apart, as over a real network.
        response = web.StreamResponse(headers={"Content-Type": found[1]})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(found[0]), 32 * 1024):
            await response.write(found[0][start : start + 32 * 1024])
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    # ---- the webhook side: events as Zalo sends them ------------------------------------------

    def event(self, name: str, user_id: str, message: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "app_id": self.app_id,
            "event_name": name,
            "timestamp": str(int(time.time() * 1000)),
        }
        if name in ("follow", "unfollow"):
            event |= {"oa_id": OA_ID, "follower": {"id": user_id}, "source": "oa_profile"}
        else:
            event |= {"sender": {"id": user_id}, "user_id_by_app": f"9{user_id}", "recipient": {"id": OA_ID}}
        if message is not None:
            event["message"] = {"msg_id": f"{next(self._msg_ids) + 10**20:x}"} | message
        return event | extra

    def text_event(self, user_id: str, text: str, msg_id: str | None = None) -> dict[str, Any]:
        message = {"text": text} | ({"msg_id": msg_id} if msg_id else {})
        return self.event("user_send_text", user_id, message)

    def image_event(self, user_id: str, url: str) -> dict[str, Any]:
        attachment = {"type": "image", "payload": {"url": url, "thumbnail": url}}
        return self.event("user_send_image", user_id, {"text": "", "attachments": [attachment]})

    def file_event(self, user_id: str, url: str, name: str, size: int) -> dict[str, Any]:
        attachment = {"type": "file", "payload": {"url": url, "name": name, "size": str(size), "type": "pdf"}}
        return self.event("user_send_file", user_id, {"attachments": [attachment]})

    def signed(self, event: dict[str, Any], secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event, ensure_ascii=False).encode()
        mac = sign(str(event.get("app_id", "")), body, str(event.get("timestamp", "")), secret or self.secret)
        return body, {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}

    async def deliver(
        self, url: str, event: dict[str, Any], *, secret: str | None = None, signed: bool = True
    ) -> tuple[int, float]:
        """POST the event to the app's webhook as Zalo would; (HTTP status, seconds taken)."""
        body, headers = self.signed(event, secret)
        if not signed:
            del headers["X-ZEvent-Signature"]
        started = asyncio.get_running_loop().time()
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status, asyncio.get_running_loop().time() - started
