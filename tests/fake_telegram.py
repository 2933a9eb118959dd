"""A local fake of the Telegram Bot API, spoken to by the real aiogram client.

    async with FakeTelegram(token=TOKEN) as tg:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))

It copies the server behaviour bots depend on: error codes and descriptions aiogram turns into
exceptions, getUpdates offset confirmation and long polling, the webhook/getUpdates conflict,
per-chat message ids, and methods returned in a webhook reply being executed. `enforce` makes
it count messages as Telegram's flood control does (a sliding second per bot and per chat, 429
with retry_after beyond); `fail` makes the next sends answer a server error (5xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import mimetypes
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import aiohttp
from aiohttp import web

# Fields that are strings in the Bot API: kept as sent. Every other form field is JSON-decoded,
# because aiogram sends non-string values as JSON ("123", "true", '{"inline_keyboard": ...}').
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "language_code",
        "parse_mode",
        "action",
        "file_id",
        "business_connection_id",
        "message_effect_id",
    }
)
# The calls `rate_limit` throttles: the ones that put or change a message in a chat.
_SENDING = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"})
# Update types Telegram only delivers when asked for by name in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_MAX_TEXT = 4096
_MAX_CALLBACK_DATA = 64


@dataclass
class UploadedFile:
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200  # the HTTP status the fake answered with
    via_webhook: bool = False  # returned in a webhook reply instead of sent as a request
    at: float = field(default_factory=time.monotonic)  # when the fake received it


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict[str, Any]:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        return {**body, "parameters": self.parameters} if self.parameters else body


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    # Entity offsets and lengths count UTF-16 code units: an emoji costs two.
    return len(text.encode("utf-16-le")) // 2


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value  # a bare string such as "@channel"


def _decode_form(fields: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
    """Type form fields and replace "attach://name" references with the uploaded file."""
    unused = dict(files)

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            unused.pop(value[9:], None)
            return files[value[9:]]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    params = {
        k: resolve(v if k in _TEXT_FIELDS or not isinstance(v, str) else _maybe_json(v)) for k, v in fields.items()
    }
    return {**params, **unused}  # files posted straight under their parameter name


async def _read_parts(reader: Any) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    async for part in reader:
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files[part.name] = UploadedFile(part.filename, bytes(await part.read()), content_type)
        else:
            fields[part.name] = await part.text()
    return fields, files


def _file_object(f: _File, **fields: Any) -> dict[str, Any]:
    """The Bot API shape shared by Document, Voice, Sticker, PhotoSize and File (None fields left out)."""
    obj = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": len(f.data), **fields}
    return {k: v for k, v in obj.items() if v is not None}


def _photo_size(f: _File) -> dict[str, Any]:
    return _file_object(f, width=800, height=600)  # the fake decodes no images: a plausible size


def _required(params: dict[str, Any], key: str) -> Any:
    if params.get(key) in (None, ""):
        raise ApiError(400, f"Bad Request: {key} is empty")
    return params[key]


def _check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > _MAX_TEXT:  # code points: measured, 4,096 emoji pass though they are 8,192 UTF-16 units
        raise ApiError(400, "Bad Request: message is too long")
    return text


class FakeTelegram:
    """The Bot API server for one bot token; `calls` records every request it answered."""

    def __init__(
        self, token: str = "123456789:TEST-token", username: str = "chidoan_test_bot", first_name: str = "Chi Đoàn"
    ) -> None:
        self.token = token
        self.me = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": first_name, "username": username}
        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self._webhook_secret: str | None = None
        self._allowed_updates: list[str] | None = None  # None: Telegram's default set
        self._updates: list[dict[str, Any]] = []
        self._confirmed_below = 0  # every update_id under this was confirmed by an offset
        self._next_update_id = 1
        self._happened: set[int] = set()  # update ids already applied (a redelivery changes nothing)
        self._arrived = asyncio.Event()  # replaced on every wake, so each waiter sees the set()
        self._poller = 0  # the latest getUpdates: an older one still waiting gets 409, as on Telegram
        self._closing = False
        self._users: dict[int, dict[str, Any]] = {}
        self._last_message_id: dict[int, int] = {}  # per chat: user and bot messages share one sequence
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._open_queries: set[str] = set()
        self._files: dict[str, _File] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._blocked: set[str] = set()
        self._rate_limited = 0
        self._retry_after = 1
        self._failing = 0
        self._fail_status = 502
        self._per_second: int | None = None  # enforce(): messages in any sliding second, per bot
        self._per_chat: int | None = None  # ... and per chat
        self._window: deque[float] = deque()  # monotonic times of the messages of the last second
        self._chat_windows: dict[int, deque[float]] = {}
        self.too_many = 0  # 429s answered by enforce()'s flood control
        self._serial = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "deleteMessage": self._delete_message,
        }
        # Telegram matches method names case-insensitively.
        self._by_lower = {name.lower(): name for name in self._methods}

    # ---- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client went away stops instead of lingering.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._wake()  # long polls still connected answer [] at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
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

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of the sendMessage calls that succeeded (what users actually received)."""
        return [
            c.params["text"]
            for c in self.calls_of("sendMessage")
            if c.status == 200 and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def my_commands(self, language_code: str = "", scope: dict[str, Any] | None = None) -> list[dict[str, str]]:
        return self._commands.get(self._commands_key({"language_code": language_code, "scope": scope}), [])

    async def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 30.0) -> Any:
        """Poll `calls` until predicate(calls) is truthy and return that value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := predicate(self.calls)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not seen within {timeout}s; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)
        return result

    # ---- what the world does ------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (numbering it if needed) and wake a waiting long poll."""
        self._happen(update)
        self._updates.append(update)
        self._wake()
        return update

    def redeliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Offer an update to getUpdates again, as Telegram does when the bot stopped before
        confirming it; what it meant (an answered query) is not undone."""
        self._confirmed_below = min(self._confirmed_below, update["update_id"])
        self._updates.append(update)
        self._wake()
        return update

    async def deliver_webhook(self, update: dict[str, Any], url: str | None = None, secret: str | None = None) -> int:
        """POST the update like Telegram does; a method in a 2xx reply is executed (see Call.via_webhook)."""
        url = url or self.webhook_url
        if not url:
            raise RuntimeError("no webhook URL: the bot has not called setWebhook and none was given")
        secret = self._webhook_secret if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        self._happen(update)
        async with aiohttp.ClientSession() as session, session.post(url, json=update, headers=headers) as resp:
            if 200 <= resp.status < 300:
                if resp.content_type == "multipart/form-data":
                    params = _decode_form(*await _read_parts(aiohttp.MultipartReader.from_response(resp)))
                elif resp.content_type == "application/json":
                    params = await resp.json()
                else:
                    params = {}
                if isinstance(params, dict) and (method := params.pop("method", None)):
                    await self._execute(method, params, via_webhook=True)
            return resp.status

    def block(self, chat_id: int | str) -> None:
        self._blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.discard(str(chat_id))

    def rate_limit(self, n: int = 1, retry_after: int = 1) -> None:
        self._rate_limited, self._retry_after = n, retry_after

    def fail(self, n: int = 1, status: int = 502) -> None:
        """The next n sending calls answer a server error (Telegram's 5xx: try again later)."""
        self._failing, self._fail_status = n, status

    def enforce(self, per_second: int | None = 30, per_chat: int | None = 1) -> None:
        """Flood control as Telegram counts it: a message beyond `per_second` within any sliding
        second (or `per_chat` to one chat) gets 429 with the whole seconds until it would pass."""
        self._per_second, self._per_chat = per_second, per_chat

    def _flood_control(self, chat_id: Any) -> None:
        now = time.monotonic()
        waits = []
        for window, limit in (
            (self._window, self._per_second),
            (self._chat_windows.setdefault(chat_id, deque()) if self._per_chat else None, self._per_chat),
        ):
            if window is None or limit is None:
                continue
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                waits.append(window[len(window) - limit] + 1.0 - now)
        if waits:
            self.too_many += 1
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        self._window.append(now)
        if self._per_chat:
            self._chat_windows[chat_id].append(now)

    def add_file(
        self,
        file_id: str,
        data: bytes,
        file_path: str | None = None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        """Make a file downloadable through getFile and /file/bot<token>/<file_path>."""
        serial = next(self._serial)
        path = file_path or f"documents/file_{serial}{PurePosixPath(file_name or '').suffix}"
        self._files[file_id] = _File(file_id, f"AgAD{serial:04d}", data, path, file_name, mime_type)
        return file_id

    # ---- update builders (they return dicts; push_update or deliver_webhook sends them) ----

    def message_update(
        self,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "An",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "vi",
        photo: bool = False,
        sticker: bool = False,
        voice: bool = False,
        document: tuple[str, bytes] | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """A user's message. With media, `text` becomes the caption; document is (file_name, data)."""
        sender = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        self._users[user_id] = sender = {k: v for k, v in sender.items() if v is not None}
        message = self._new_message(user_id if chat_id is None else chat_id, sender)
        # Media are stored files, so the bot can getFile and download them as on Telegram.
        if photo:
            message["photo"] = [_photo_size(self._new_file(b"\xff\xd8\xff\xe0 fake jpeg", "photos", ".jpg"))]
        if sticker:
            f = self._new_file(b"RIFF fake webp", "stickers", ".webp")
            message["sticker"] = _file_object(
                f, type="regular", width=512, height=512, is_animated=False, is_video=False, emoji="👍"
            )
        if voice:
            f = self._new_file(b"OggS fake opus", "voice", ".oga", mime_type="audio/ogg")
            message["voice"] = _file_object(f, duration=2, mime_type="audio/ogg")
        if document is not None:
            name, data = document
            f = self._new_file(
                data, "documents", PurePosixPath(name).suffix, file_name=name, mime_type=mimetypes.guess_type(name)[0]
            )
            message["document"] = _file_object(f, file_name=f.file_name, mime_type=f.mime_type)
        if text is not None:
            if photo or sticker or voice or document is not None:
                message["caption"] = text
            else:
                message["text"] = text
                if text.startswith("/"):
                    message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(text.split()[0])}]
        return {"message": message}

    def callback_update(
        self, user_id: int, data: str, *, message_id: int = 1, chat_id: int | None = None, language_code: str = "vi"
    ) -> dict[str, Any]:
        """A button press on a bot message; the message is the one the bot sent, if it did."""
        chat_id = user_id if chat_id is None else chat_id
        sender = {
            **self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "An"}),
            "language_code": language_code,
        }
        stored = self._messages.get((chat_id, message_id))
        message = (
            dict(stored)
            if stored
            else {  # a copy: later edits must not rewrite this update
                "message_id": message_id,
                "from": self.me,
                "chat": self._chat(chat_id),
                "date": _now(),
                "text": "…",
            }
        )
        return {
            "callback_query": {
                "id": str(4_000_000_000_000_000 + next(self._serial)),
                "from": sender,
                "chat_instance": str(-7_000_000_000 - chat_id),
                "message": message,
                "data": data,
            }
        }

    def blocked_update(self, user_id: int) -> dict[str, Any]:
        """The user blocked the bot; once pushed or delivered, sends to them get 403."""
        return self._member_update(user_id, old={"status": "member"}, new={"status": "kicked", "until_date": 0})

    def unblocked_update(self, user_id: int) -> dict[str, Any]:
        """The user unblocked the bot (Telegram tells it, whether or not they write)."""
        self.unblock(user_id)
        return self._member_update(user_id, old={"status": "kicked", "until_date": 0}, new={"status": "member"})

    def _member_update(self, user_id: int, *, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "An"})
        return {
            "my_chat_member": {
                "chat": self._chat(user_id),
                "from": user,
                "date": _now(),
                "old_chat_member": {"user": self.me} | old,
                "new_chat_member": {"user": self.me} | new,
            }
        }

    # ---- plumbing -----------------------------------------------------------------------

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    def _happen(self, update: dict[str, Any]) -> None:
        """Number the update and apply what it means to the server's state."""
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        if update["update_id"] in self._happened:  # delivered again: its query stays answered
            return
        self._happened.add(update["update_id"])
        if message := update.get("message"):
            self._messages[(message["chat"]["id"], message["message_id"])] = message
        if query := update.get("callback_query"):
            self._open_queries.add(query["id"])
            if message := query.get("message"):
                self._messages.setdefault((message["chat"]["id"], message["message_id"]), message)
        if member := update.get("my_chat_member"):
            status = member["new_chat_member"]["status"]
            if status == "kicked":
                self.block(member["chat"]["id"])
            elif status == "member":
                self.unblock(member["chat"]["id"])

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:  # a private chat has the user's id and names
            user = self._users.get(chat_id, {})
            names = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
            return {"id": chat_id, "type": "private", **names}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}

    def _new_message(self, chat_id: int, sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        self._last_message_id[chat_id] = message_id = self._last_message_id.get(chat_id, 0) + 1
        message = {"message_id": message_id, "from": sender, "chat": self._chat(chat_id), "date": _now()}
        return {**message, **{k: v for k, v in content.items() if v is not None}}

    def _sent(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message = self._new_message(
            self._chat_id(params), self.me, caption=params.get("caption"), reply_markup=self._markup(params), **content
        )
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def _new_file(self, data: bytes, folder: str, suffix: str = "", **meta: Any) -> _File:
        serial = next(self._serial)
        return self._files[
            self.add_file(f"BQACAgIAAxkBAAI{serial:06d}", data, f"{folder}/file_{serial}{suffix}", **meta)
        ]

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int:
        chat_id = _required(params, "chat_id")
        if not isinstance(chat_id, int):  # @usernames only name public channels, which the fake has none of
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if isinstance(markup, str):  # JSON-body clients may send it still encoded
            markup = json.loads(markup)
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # only inline keyboards are echoed back in the Message
        for row in markup["inline_keyboard"]:
            for button in row:
                if len(button.get("callback_data", "").encode()) > _MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _uploaded(self, params: dict[str, Any], key: str, folder: str) -> _File:
        value = params.get(key)
        if isinstance(value, UploadedFile):
            if not value.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            name = value.filename
            return self._new_file(
                value.data,
                folder,
                PurePosixPath(name).suffix,
                file_name=name,
                mime_type=mimetypes.guess_type(name)[0] or value.content_type,
            )
        if value is None:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        if str(value) not in self._files:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return self._files[str(value)]

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._messages.get((self._chat_id(params), _required(params, "message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.me["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        return json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True), params.get("language_code") or ""

    # ---- HTTP ---------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        if request.content_type == "application/json":
            params = {**_decode_form(dict(request.query), {}), **await request.json()}
        elif request.content_type == "multipart/form-data":
            fields, files = await _read_parts(await request.multipart())
            params = _decode_form({**request.query, **fields}, files)
        else:  # form-urlencoded or a GET query string
            params = _decode_form({**request.query, **await request.post()}, {})
        status, body = await self._execute(request.match_info["method"], params)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        path = request.match_info["file_path"]
        found = next((f for f in self._files.values() if f.file_path == path), None)
        if request.match_info["token"] != self.token or found is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=found.data, content_type="application/octet-stream")

    async def _execute(
        self, method: str, params: dict[str, Any], via_webhook: bool = False
    ) -> tuple[int, dict[str, Any]]:
        name = self._by_lower.get(method.lower())
        call = Call(name or method, params, via_webhook=via_webhook)
        self.calls.append(call)  # before running, so wait_for sees a long poll that is still waiting
        try:
            if name is None:
                raise ApiError(404, "Not Found: method not found")
            if name in _SENDING and self._rate_limited > 0:
                self._rate_limited -= 1
                raise ApiError(
                    429, f"Too Many Requests: retry after {self._retry_after}", retry_after=self._retry_after
                )
            if name in _SENDING and self._failing > 0:
                self._failing -= 1
                raise ApiError(
                    self._fail_status, "Bad Gateway" if self._fail_status == 502 else "Internal Server Error"
                )
            if "chat_id" in params and str(params["chat_id"]) in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if name in _SENDING and (self._per_second or self._per_chat):
                self._flood_control(params.get("chat_id"))
            return 200, {"ok": True, "result": await self._methods[name](params)}
        except ApiError as error:
            call.status = error.code
            return error.code, error.body()

    # ---- Bot API methods ----------------------------------------------------------------

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.me,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _pending(self) -> list[dict[str, Any]]:
        def wanted(update: dict[str, Any]) -> bool:
            kind = next((k for k in update if k != "update_id"), None)
            return kind in self._allowed_updates if self._allowed_updates else kind not in _OPT_IN_UPDATES

        # Telegram never stores updates of unwanted types, so they cannot come back later.
        self._updates = [u for u in self._updates if u["update_id"] >= self._confirmed_below and wanted(u)]
        return self._updates

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset") or 0
        if offset > 0:
            self._confirmed_below = max(self._confirmed_below, offset)
        if params.get("allowed_updates") is not None:  # absent keeps the previous setting; [] resets it
            self._allowed_updates = params["allowed_updates"]
        limit = min(max(params.get("limit") or 100, 1), 100)
        self._poller += 1
        me = self._poller
        self._wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (params.get("timeout") or 0)
        while True:
            if self.webhook_url:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            if me != self._poller:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            batch = self._pending()[:limit]
            if batch or self._closing or loop.time() >= deadline:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url, self._webhook_secret = params.get("url") or None, secret  # an empty url removes it
        if params.get("allowed_updates") is not None:
            self._allowed_updates = params["allowed_updates"]
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._wake()  # a long poll running now has to fail with 409
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = self._webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending()),
        }
        if self._allowed_updates:
            info["allowed_updates"] = self._allowed_updates
        return info

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100 or not all(_COMMAND.fullmatch(str(c.get("command", ""))) for c in commands):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not all(1 <= len(str(c.get("description", ""))) <= 256 for c in commands):
            raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        stored = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands[self._commands_key(params)] = stored
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self._commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, text=_check_text(params.get("text")))

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True  # Telegram answers True for inline messages: there is no Message to return
        message = self._editable(params)
        text, markup = _check_text(params.get("text")), self._markup(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._edit(message, text=text, reply_markup=markup)  # no reply_markup removes the keyboard

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        return self._edit(self._editable(params), reply_markup=self._markup(params))

    def _edit(self, message: dict[str, Any], **changes: Any) -> dict[str, Any]:
        if all(message.get(k) == v for k, v in changes.items()):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a content and reply markup of the current message",
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = _now()
        return message

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        if self._messages.pop((self._chat_id(params), _required(params, "message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(_required(params, "callback_query_id"))
        if query_id not in self._open_queries:  # unknown, or already answered
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat_id(params)
        _required(params, "action")
        return True

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        f = self._uploaded(params, "document", "documents")
        return self._sent(params, document=_file_object(f, file_name=f.file_name, mime_type=f.mime_type))

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sent(params, photo=[_photo_size(self._uploaded(params, "photo", "photos"))])

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        f = self._files.get(str(_required(params, "file_id")))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return _file_object(f, file_path=f.file_path)
