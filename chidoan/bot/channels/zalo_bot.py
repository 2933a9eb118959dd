"""Zalo Bot Platform (the Telegram-like "Zalo Bot" API): the pilot route to Zalo.

Talks to `{ZALO_BOT_API_URL}/bot{token}/{method}` with aiohttp (POST JSON; answers `{ok, result}`
or `{ok: false, error_code, description}`), in long polling or webhook mode:
- polling: `getUpdates` gives one update (or a list); an update is stored through
  `Host.submit` before the next `getUpdates` is sent, which is all the acknowledgement there is;
  408 is an empty poll; errors back off; one unreadable update is kept as failed and polling goes on;
- webhook: the header `X-Bot-Api-Secret-Token` is compared in constant time (403 otherwise), and
  the 200 goes back only once the update is committed (a failure is a 500: Zalo may deliver again).
Updates come bare or wrapped in `{ok, result}` (both are seen: ZALO.md, U); they have no
update id, so the event id is the message's `message_id` and the engine drops duplicates by it.

Zalo documents no buttons, so an `Outgoing`'s buttons are written into the text by the engine's
`numbered_text`: numbered in reading order (bulleted at a number or date step), with the hint
the engine put in the message, in the reader's language. A typed answer goes to the engine as
text, and the engine maps it to the button it names (engine/typed.py): the number shown, the
label's words, a synonym ("quay lại", "bỏ qua").

Documents cannot be sent (sendPhoto takes only a URL): the text goes out with a download link
that works for a while (bot/downloads.py, `CHIDOAN_PUBLIC_URL`), or, without a public address,
a note saying whom to ask.

The basic plan allows about 50 users per bot and 3,000 messages a month (ZALO.md, P): a pilot for
one district, not a province. `start` says so in the log, and says when the bot has more users.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from chidoan.bot.channels.base import (
    Host,
    Limits,
    RetryLater,
    TokenRefused,
    Unreachable,
    split_text,
    store_until_stored,
)
from chidoan.bot.downloads import file_note
from chidoan.bot.tasks import cancel, within, woken
from chidoan.engine.messages import Incoming, InFile, Outgoing, clean_text, numbered_text

log = logging.getLogger(__name__)

NAME = "zalo_bot"
MAX_TEXT = 2000
NAME_MAX = 255  # channel_identity.display_name
EVENT_ID_MAX = 64  # inbound_event.event_id
POLL_TIMEOUT = 30  # seconds a getUpdates waits for an update
REQUEST_TIMEOUT = 20  # seconds for any other call
POLL_BACKOFF = (1.0, 60.0)  # first and longest wait after a failed getUpdates
PART_WAITS = 3  # rate-limit waits for the rest of a split message (its first parts are out)
STOP_GRACE = 10.0  # seconds stop() lets the update being stored finish
SECRET_HEADER = "X-Bot-Api-Secret-Token"
BASIC_PLAN_USERS = 50  # about; ZALO.md (P)
BASIC_PLAN_MESSAGES = 3000  # a month; ZALO.md (P)
PLAIN_ID = re.compile(r"[A-Za-z0-9_\-.:]+")
MEDIA = {
    "image": "photo",
    "sticker": "sticker",
    "video": "video",
    "voice": "voice",
    "audio": "audio",
    "file": "document",
}


class ZaloBotError(Exception):
    """The API said no (`ok: false`), answered something else than JSON, or could not be reached."""

    def __init__(self, code: int, description: str):
        super().__init__(f"{code}: {description}")
        self.code, self.description = code, description


class Unreadable(ValueError):
    """An update this channel cannot read (a field missing or of another type)."""


def build(host: Host) -> ZaloBotChannel | None:
    return ZaloBotChannel(host) if host.settings.zalo_bot_token else None


# ---- reading updates -----------------------------------------------------------------------


def updates_of(body: object) -> list[object]:
    """The updates in a webhook body or a getUpdates result: one update, a list of them, either
    wrapped in `{ok, result}` (both envelopes are seen)."""
    if isinstance(body, dict) and "result" in body and "event_name" not in body:
        body = body["result"]
    if body is None:
        return []
    return list(body) if isinstance(body, list) else [body]


def event_id_of(message_id: str) -> str:
    """The stored event id: the message id, or a digest of it when it would not fit its column."""
    if len(message_id) <= EVENT_ID_MAX and PLAIN_ID.fullmatch(message_id):
        return message_id
    return "#" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[: EVENT_ID_MAX - 1]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: object) -> str | None:
    """Ids are strings on Zalo (and may exceed 2**53): a number is taken as its digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip()):
        return str(value).strip()
    return None


def _required_id(parent: dict[str, Any], key: str, where: str) -> str:
    found = _id(parent.get(key))
    if found is None:
        raise Unreadable(f"{where}.{key}: missing or not an id")
    return found


def is_group(chat: dict[str, Any]) -> bool:
    return str(chat.get("chat_type", "PRIVATE")).upper() == "GROUP"


def photo_url(message: dict[str, Any]) -> str | None:
    """The picture of a message.image.received (`photo_url`; older copies say `photo`: ZALO.md, U)."""
    for key in ("photo_url", "photo", "url"):
        value = message.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def parse_update(raw: object) -> tuple[Incoming, str | None] | None:
    """The update as an `Incoming` (without its file) and the photo to fetch, or None for what is
    not for the bot (a group chat). Raises Unreadable."""
    if not isinstance(raw, dict):
        raise Unreadable("an update is a JSON object")
    event = raw.get("event_name")
    message = raw.get("message")
    if not isinstance(event, str) or not isinstance(message, dict):
        raise Unreadable("event_name or message missing")
    message_id = _required_id(message, "message_id", "message")
    user_id = _required_id(_dict(message.get("from")), "id", "message.from")
    chat = _dict(message.get("chat"))
    chat_id = _required_id(chat, "id", "message.chat")
    if is_group(chat):
        return None
    name = _dict(message.get("from")).get("display_name")
    incoming = Incoming(
        channel=NAME,
        event_id=event_id_of(message_id),
        user_id=user_id,
        chat_id=chat_id,
        display_name=clean_text(name, NAME_MAX) if isinstance(name, str) and name.strip() else None,
    )
    kind = event.removeprefix("message.").removesuffix(".received")
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str):
            raise Unreadable("message.text: missing or not a string")
        return dataclasses.replace(incoming, text=text), None
    media = MEDIA.get(kind, "other")
    return dataclasses.replace(incoming, media=media), photo_url(message) if media == "photo" else None


def unreadable(raw: object) -> Incoming:
    """Whatever can be told of an update that cannot be read: who sent it (for the apology), and
    an event id (the message id, else a digest of the update, so a delivery again is one event)."""
    message = _dict(_dict(raw).get("message"))
    chat = _dict(message.get("chat"))
    message_id = _id(message.get("message_id"))
    if message_id is None:
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode("utf-8", "replace"))
        message_id = "#" + digest.hexdigest()[: EVENT_ID_MAX - 1]
    chat_id = _id(chat.get("id"))
    return Incoming(
        channel=NAME,
        event_id=event_id_of(message_id),
        user_id=_id(_dict(message.get("from")).get("id")) or "",
        chat_id=chat_id if chat_id and not is_group(chat) else "",
        media="unreadable",
    )


# ---- the channel ----------------------------------------------------------------------------


class ZaloBotChannel:
    name = NAME
    # Zalo publishes no rate limits for bots (ZALO.md): paced well below Telegram's, and the
    # basic plan's 3,000 messages a month are the real bound.
    limits = Limits(per_second=5, per_chat_per_second=1, per_chat_burst=3)
    max_text = MAX_TEXT

    def __init__(self, host: Host):
        self.host = host
        self.settings = settings = host.settings
        assert settings.zalo_bot_token is not None
        self._token = settings.zalo_bot_token.get_secret_value()
        self._base = f"{settings.zalo_bot_api_url.rstrip('/')}/bot{self._token}/"
        self.webhook_url = settings.zalo_bot_webhook_url
        secret = settings.zalo_bot_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret else b""
        self._session: aiohttp.ClientSession | None = None
        self._polling: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._storing = False  # polling: an update taken from Zalo is being stored (never cancelled)

    # ---- the API ------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT) -> Any:
        """POST one method; its `result`, or ZaloBotError (never with the token: it is in the URL)."""
        try:
            async with self.session.post(
                self._base + method, json=params or {}, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloBotError(0, f"{method}: {type(exc).__name__}") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise ZaloBotError(status, f"{method}: HTTP {status}, not JSON") from None
        if not isinstance(body, dict) or body.get("ok") is not True:
            body = _dict(body)
            code = body.get("error_code")
            description = body.get("description")
            raise ZaloBotError(
                code if isinstance(code, int) else status,
                description.replace(self._token, "***") if isinstance(description, str) else f"HTTP {status}",
            )
        return body.get("result")

    # ---- in -----------------------------------------------------------------------------

    async def handle(self, raw: object) -> None:
        """Store one update (or keep it as failed); returns once it is committed."""
        try:
            parsed = parse_update(raw)
        except Exception as exc:  # any surprise in an update's shape: kept, and polling goes on
            problem = str(exc) if isinstance(exc, Unreadable) else f"{type(exc).__name__}: {exc}"
            incoming = unreadable(raw)
            log.warning("zalo_bot update %s could not be read (%s); kept as failed", incoming.event_id, problem)
            text = json.dumps(raw, ensure_ascii=False, default=str)
            await self._stored(lambda: self.host.keep_failed(incoming, problem, text), incoming.event_id)
            return
        if parsed is None:
            return  # a group chat: the bot works in private chats only
        incoming, url = parsed
        if url is not None:
            file, media = await self._fetch(url, incoming.event_id)
            incoming = dataclasses.replace(incoming, file=file, media=media)

        await self._stored(lambda: self.host.submit(incoming), incoming.event_id)

    async def _fetch(self, url: str, event_id: str) -> tuple[InFile | None, str]:
        """Download a photo within CHIDOAN_MAX_FILE_KB; the engine keeps it only where a report
        asks for one. A failed download still stores the message (the person is asked again)."""
        limit = self.settings.max_file_kb * 1024
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as response:
                if response.status != 200:
                    raise ZaloBotError(response.status, "photo download")
                if (response.content_length or 0) > limit:
                    return None, "too_big"
                content = await response.content.read(limit + 1)
                mime = response.content_type if response.content_type.startswith("image/") else "image/jpeg"
        except (aiohttp.ClientError, TimeoutError, ZaloBotError) as exc:
            log.warning("zalo_bot: could not download the photo of %s (%s)", event_id, type(exc).__name__)
            return None, "photo"
        if len(content) > limit:
            return None, "too_big"
        extension = {"image/png": "png", "image/webp": "webp", "image/gif": "gif"}.get(mime, "jpg")
        return InFile(f"photo-{event_id.lstrip('#')[:40]}.{extension}", mime, content, url), "photo"

    async def _stored(self, store: Callable[[], Awaitable[object]], event_id: str) -> None:
        """Webhook: a failure propagates (a 500). Polling: the update has left Zalo's queue, so it
        is stored again until it is (or the channel stops)."""
        if self.webhook_url:
            await store()
            return
        try:
            await store_until_stored(store, f"zalo_bot update {event_id}", stopping=self._stopping)
        except Exception as exc:
            log.error("zalo_bot update %s could not be stored before stopping (%s)", event_id, exc)
            raise

    async def _poll(self) -> None:
        delay = POLL_BACKOFF[0]
        while not self._stopping.is_set():
            began = asyncio.get_running_loop().time()
            try:
                result = await self.call("getUpdates", {"timeout": str(POLL_TIMEOUT)}, timeout=POLL_TIMEOUT + 10)
            except ZaloBotError as exc:
                if exc.code == 408:  # nothing arrived within the timeout
                    delay = POLL_BACKOFF[0]
                    if asyncio.get_running_loop().time() - began < 1:  # a server that does not hold the poll
                        await woken(self._stopping, 1)
                    continue
                log.warning("zalo_bot: getUpdates failed (%s); trying again in %.0fs", exc, delay)
                await woken(self._stopping, delay)
                delay = min(delay * 2, POLL_BACKOFF[1])
                continue
            delay = POLL_BACKOFF[0]
            self._storing = True
            try:
                for raw in updates_of(result):
                    try:
                        await self.handle(raw)
                    except Exception:  # only when stopping with the database down: said, and on
                        log.exception("zalo_bot: an update was not stored")
            finally:
                self._storing = False

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("zalo_bot webhook: refused a delivery without the right secret")
            return web.Response(status=403, text="forbidden")
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):
            log.warning("zalo_bot webhook: refused a body of %s bytes that is not JSON", request.content_length)
            return web.Response(status=400, text="not JSON")
        for raw in updates_of(body):
            await self.handle(raw)  # a failure to store is a 500: Zalo may deliver it again
        return web.json_response({"ok": True})

    # ---- out ----------------------------------------------------------------------------

    async def send(self, chat_id: str, message: Outgoing) -> None:
        text = numbered_text(message)  # the buttons as the engine numbers them, and its hint
        if message.attachment is not None:  # the channel's own words, in the reader's language
            locale = await self.host.read(lambda uow: uow.accounts.locale_of_chat(NAME, chat_id))
            note = file_note(locale or self.settings.default_locale, message.attachment, self.settings)
            text = f"{text}\n\n{note}" if text else note
        parts = split_text(text, MAX_TEXT)
        for i, part in enumerate(parts):
            for wait in range(PART_WAITS + 1):
                try:
                    await self.call("sendMessage", {"chat_id": chat_id, "text": part})
                    break
                except ZaloBotError as exc:
                    if exc.code == 403:
                        raise Unreachable(exc.description) from exc
                    if exc.code == 401:
                        raise TokenRefused(exc.description) from exc
                    if exc.code != 429:
                        raise
                    if i == 0 or wait == PART_WAITS:
                        raise RetryLater(5, exc.description) from exc
                    # Earlier parts are delivered: retrying the whole row would send them twice.
                    await asyncio.sleep(5)

    # ---- life ---------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        if self.webhook_url:
            app.router.add_post(self.settings.zalo_bot_webhook_path, self._webhook)

    async def start(self) -> None:
        me = _dict(await self.call("getMe"))
        users = len(await self.host.read(lambda uow: uow.accounts.identities_of(NAME)))
        log.warning(
            "zalo_bot: the Zalo Bot Platform's basic plan allows about %d users per bot and %d messages a "
            "month: a pilot for one district, not a province (use the Zalo Official Account for more)",
            BASIC_PLAN_USERS,
            BASIC_PLAN_MESSAGES,
        )
        if users > BASIC_PLAN_USERS:
            log.warning(
                "zalo_bot: %d people already use this bot, more than the basic plan's about %d users",
                users,
                BASIC_PLAN_USERS,
            )
        name = me.get("account_name") or me.get("display_name") or me.get("id") or "?"
        if self.webhook_url:
            await self.call("setWebhook", {"url": self.webhook_url, "secret_token": self._secret.decode()})
            log.info("zalo_bot: bot %s, webhook mode", name)
        else:
            await self.call("deleteWebhook")
            self._polling = asyncio.create_task(self._poll(), name="chidoan-zalo-bot-polling")
            log.info("zalo_bot: bot %s, long polling", name)

    async def stop(self) -> None:
        """Stop polling: a long poll still waiting is cancelled (it holds no update); an update
        being stored is let finish (it has left Zalo's queue), within STOP_GRACE seconds."""
        self._stopping.set()
        task, self._polling = self._polling, None
        if task is None:
            return
        if not self._storing:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await within(asyncio.wait({task}), STOP_GRACE)
        await cancel(task)  # past STOP_GRACE

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
