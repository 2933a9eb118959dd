"""A local fake of the Zalo Bot Platform API, spoken to by the real channel code.

    async with FakeZaloBot(token=TOKEN) as zalo:
        settings: ZALO_BOT_TOKEN=zalo.token, ZALO_BOT_API_URL=zalo.base_url

What it copies (ZALO.md, route 2): POST JSON to /bot<token>/<method>, answers `{ok, result}` or
`{ok: false, error_code, description}`; getUpdates long polls and gives one update per call
(or a list, `batch=True`), `error_code` 408 when nothing came; an update given out is gone (there
is no offset); getUpdates while a webhook is set is refused; sendMessage takes at most 2,000
characters. Updates can be pushed bare or wrapped in `{ok, result}`, to polling or to the
webhook with its secret header; errors can be answered on demand; pictures are served for
message.image.received.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

MAX_TEXT = 2000


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200  # 200 with ok: true, else the error_code answered


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class FakeZaloBot:
    def __init__(self, token: str = "1234567890123456789:fake-zalo-secret", name: str = "Chi Đoàn Bot") -> None:
        self.token = token
        self.me = {"id": token.split(":")[0], "account_name": name, "account_type": "BASIC", "can_join_groups": False}
        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.batch = False  # getUpdates gives a list instead of one update
        self.long_polls = 0  # getUpdates calls waiting for an update now
        self._updates: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._errors: dict[str, list[tuple[int, str]]] = {}
        self._images: dict[str, tuple[bytes, str]] = {}
        self._serial = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
        }

    # ---- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle_api)
        app.router.add_get("/images/{name}", self._handle_image)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloBot:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # ---- what the bot did ---------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: str | None = None) -> list[str]:
        """Texts of the sendMessage calls that succeeded (what people actually received)."""
        return [
            c.params["text"]
            for c in self.calls_of("sendMessage")
            if c.status == 200 and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 30.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := predicate(self.calls)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not seen within {timeout}s; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)
        return result

    @property
    def pending(self) -> int:
        return len(self._updates)

    # ---- what the world does ------------------------------------------------------------

    def fail(self, method: str, code: int, description: str = "error", times: int = 1) -> None:
        """The next `times` calls of `method` are answered `{ok: false, error_code: code}`."""
        self._errors.setdefault(method, []).extend([(code, description)] * times)

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates and wake a waiting long poll."""
        self._updates.append(update)
        self._wake()
        return update

    async def deliver_webhook(self, update: Any, *, secret: str | None = None, wrapped: bool = False) -> int:
        """POST the update (bare, or wrapped in {ok, result}) to the webhook with the secret header."""
        if not self.webhook_url:
            raise RuntimeError("no webhook URL: the bot has not called setWebhook")
        secret = self.webhook_secret if secret is None else secret
        headers = {"X-Bot-Api-Secret-Token": secret} if secret else {}
        body = {"ok": True, "result": update} if wrapped else update
        async with aiohttp.ClientSession() as session, session.post(self.webhook_url, json=body, headers=headers) as r:
            return r.status

    def add_image(self, data: bytes, content_type: str = "image/jpeg") -> str:
        name = f"img{next(self._serial)}.jpg"
        self._images[name] = (data, content_type)
        return f"{self.base_url}/images/{name}"

    # ---- update builders ------------------------------------------------------------------

    def text_update(self, user_id: str, text: str, *, name: str = "An", chat_type: str = "PRIVATE") -> dict[str, Any]:
        return self._update("message.text.received", user_id, name, chat_type, text=text)

    def image_update(self, user_id: str, url: str, *, name: str = "An", caption: str | None = None) -> dict[str, Any]:
        extra = {"photo_url": url} | ({"caption": caption} if caption else {})
        return self._update("message.image.received", user_id, name, "PRIVATE", **extra)

    def sticker_update(self, user_id: str, *, name: str = "An") -> dict[str, Any]:
        return self._update("message.sticker.received", user_id, name, "PRIVATE", sticker="https://example.invalid/s")

    def _update(self, event: str, user_id: str, name: str, chat_type: str, **fields: Any) -> dict[str, Any]:
        message = {
            "message_id": f"{next(self._serial):08x}a1b2c3d4e5f6",
            "from": {"id": user_id, "display_name": name, "is_bot": False},
            "chat": {"id": user_id, "chat_type": chat_type},
            "date": int(time.time() * 1000),
            **fields,
        }
        return {"event_name": event, "message": message}

    # ---- the server -------------------------------------------------------------------------

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = request.match_info["method"]
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            params = None
        call = Call(method, params if isinstance(params, dict) else {})
        try:
            if not isinstance(params, dict):
                raise ApiError(400, "Bad Request: body is not a JSON object")
            handler = self._methods.get(method)
            if handler is None:
                raise ApiError(404, "Not Found: unknown method")
            if self._errors.get(method):
                raise ApiError(*self._errors[method].pop(0))
            result = await handler(params)
        except ApiError as exc:
            call.status = exc.code
            self.calls.append(call)
            return web.json_response({"ok": False, "error_code": exc.code, "description": exc.description})
        self.calls.append(call)
        return web.json_response({"ok": True, "result": result})

    async def _handle_image(self, request: web.Request) -> web.Response:
        found = self._images.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.me

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: webhook is active; call deleteWebhook first")
        timeout = float(params.get("timeout") or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.long_polls += 1
        try:
            while not self._updates and not self._closing and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
        finally:
            self.long_polls -= 1
        if not self._updates:
            raise ApiError(408, "Request timeout")
        if self.batch:
            batch, self._updates = self._updates, []
            return batch
        return self._updates.pop(0)

    async def _set_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: url is invalid")
        if not isinstance(secret, str) or not secret:
            raise ApiError(400, "Bad Request: secret_token is required")
        self.webhook_url, self.webhook_secret = url, secret
        self._wake()
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _delete_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        self.webhook_url = self.webhook_secret = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url or "", "has_custom_certificate": False}

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if not isinstance(chat_id, str) or not chat_id:
            raise ApiError(400, "Bad Request: chat_id is required")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: text is too long")
        return self._sent(chat_id)

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, photo = params.get("chat_id"), params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: photo must be a URL")
        return self._sent(str(chat_id))

    def _sent(self, chat_id: str) -> dict[str, Any]:
        return {"message_id": f"bot{next(self._serial):08x}", "date": int(time.time() * 1000), "chat_id": chat_id}
