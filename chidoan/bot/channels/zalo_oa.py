"""Zalo Official Account (Open API v3): webhook events in as `Incoming`, `Outgoing` out through
the consultation ("cs") message API. What is known of Zalo, and how sure, is in the README
("Zalo Official Account"); what this module assumes is listed there too.

In: Zalo gives a webhook 2 seconds and disables one that keeps failing, and it does not deliver
an event again once it was answered. So an event is stored as received (`Host.accept`, a thread
and a connection of its own: the database thread may be busy) and answered 200 at once; it is
handled afterwards in the normal queue (`Host.submit` with `accepted=True`, which marks it
processed), an attachment downloaded first. A store that takes more than `ACK_WITHIN` seconds is
answered 503 (never a 200 for what is not stored); the store still finishes, and the event is
then handled. Events stored but not handled when the process ended are handled at the next start.
The signature (`X-ZEvent-Signature: mac=<sha256 hex>`) is checked before anything is read.

Out: texts of at most 2,000 characters (longer ones are split); up to 5 buttons become
`oa.query.hide` buttons whose payload is text the engine maps back to that very button (see
`tap_payload`), more become the engine's numbered list (`numbered_text`) to answer by number; a
document is uploaded first, then sent by its token.
Zalo answers errors with HTTP 200 and `"error" != 0`; see `_raise_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp import web

from chidoan.bot.channels.base import (
    Host,
    Limits,
    NotReachableNow,
    RetryLater,
    TokenRefused,
    Unreachable,
    split_text,
    store_until_stored,
)
from chidoan.bot.channels.zalo_tokens import ZaloTokens
from chidoan.bot.downloads import file_note
from chidoan.bot.tasks import within
from chidoan.engine.messages import (
    Attachment,
    Button,
    Incoming,
    InFile,
    Outgoing,
    button_numbers,
    clip_filename,
    numbered_text,
)

log = logging.getLogger(__name__)

NAME = "zalo"
MAX_TEXT = 2000  # characters of one text message (C)
MAX_BUTTONS = 5  # buttons of one message (P); more become a numbered list
TITLE_MAX = 100  # a button's title: no documented limit found (U); long labels are clipped
ACK_WITHIN = 1.5  # seconds to store an event before answering 503 (Zalo waits 2 s)
EVENT_ID_MAX = 64  # inbound_event.event_id
RATE_BACKOFF = (2.0, 300.0)  # -32 (rate limit): first and longest wait before the next try
PART_WAITS = 3  # -32 on a later part of a split text: its first parts are out, wait in place
DOWNLOAD_TIMEOUT = 30.0
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")
# What upload/file takes (P: Zalo's page lists PDF, DOC and DOCX), and the sizes (P: images ≤ 1 MB,
# files ≤ 5 MB). Anything else (a spreadsheet, a bigger file) goes as a download link instead.
FILE_EXTENSIONS = (".pdf", ".doc", ".docx")
MAX_IMAGE_BYTES = 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024

# Error codes of the OA message and upload APIs (C), by what they mean to the sender.
TOKEN_REFUSED = {-216, -220}  # token invalid, expired: refresh once and try once more
RATE_LIMITED = {-32}
GONE = {-217, -227}  # blocked the OA; banned or inactive
NOT_NOW = {-213, -230, -232, -244}  # not following; no interaction within 7 days; expired; restricted
OUT_OF_QUOTA = {-211}

# Events and the media kind the engine is told (it answers politely that it reads text).
MEDIA = {
    "user_send_image": "photo",
    "user_send_file": "document",
    "user_send_sticker": "sticker",
    "user_send_gif": "animation",
    "user_send_audio": "voice",
    "user_send_video": "video",
    "user_send_location": "location",
    "user_send_link": "link",
    "user_send_business_card": "contact",
    "user_submit_info": "info",
}
FACTS = {"follow": "followed", "unfollow": "unfollowed"}


def uploadable(attachment: Attachment) -> bool:
    """Whether Zalo's upload takes this file: an image up to 1 MB, a PDF or Word file up to 5 MB."""
    name, size = attachment.filename.lower(), len(attachment.content or b"")
    if name.endswith(IMAGE_EXTENSIONS):
        return size <= MAX_IMAGE_BYTES
    return name.endswith(FILE_EXTENSIONS) and size <= MAX_FILE_BYTES


class TokenSource(Protocol):
    """Where the OA access token comes from: the token store (zalo_tokens.py, `ZaloTokens`: the
    stored pair, refreshed) when ZALO_OA_APP_SECRET is set, else `StaticToken` (the
    ZALO_OA_ACCESS_TOKEN setting, never refreshed)."""

    async def current(self) -> str:
        """The access token to use now."""
        ...

    async def refreshed(self, after: str) -> str:
        """A token other than `after`, which Zalo refused (refresh once, or one refreshed since)."""
        ...


@runtime_checkable
class Startable(Protocol):
    """A token source with work of its own (the token store's periodic check)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticToken:
    def __init__(self, token: str):
        self._token = token

    async def current(self) -> str:
        return self._token

    async def refreshed(self, after: str) -> str:
        return self._token  # nothing to refresh: the caller gives up on a second refusal


class ZaloError(Exception):
    """An error Zalo answered that is neither a recipient's state nor a limit."""

    def __init__(self, code: int, message: str):
        super().__init__(f"zalo error {code}: {message}"[:300])
        self.code = code


NO_TOKEN = (
    "zalo: no access token: set ZALO_OA_APP_SECRET (the token store, refreshed; authorise once "
    "with `chidoan zalo connect`) or ZALO_OA_ACCESS_TOKEN (a static token)"
)


def build(host: Host) -> ZaloOAChannel | None:
    """The channel when ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY are set. Its tokens: the token
    store when ZALO_OA_APP_SECRET is set, else the static ZALO_OA_ACCESS_TOKEN, else none (the
    channel then refuses to start)."""
    settings = host.settings
    if not (settings.zalo_oa_app_id and settings.zalo_oa_secret_key):
        return None
    tokens: TokenSource | None = None
    if settings.zalo_oa_app_secret is not None:
        tokens = ZaloTokens.for_host(host)
    elif settings.zalo_oa_access_token is not None and settings.zalo_oa_access_token.get_secret_value():
        tokens = StaticToken(settings.zalo_oa_access_token.get_secret_value())
    return ZaloOAChannel(host, tokens)


def signature(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    """sha256(app_id + body + timestamp + secret) as hex: Zalo's webhook signature (C; plain
    SHA-256, not an HMAC). Which secret is the OA Secret Key or the app secret is U."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()


def _id(value: object) -> str:
    """An id as a string: Zalo sends strings (they exceed 2^53); an integer is kept exact."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_id(*parts: str) -> str:
    joined = ":".join(parts)
    if len(joined) <= EVENT_ID_MAX:
        return joined
    return "#" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[: EVENT_ID_MAX - 1]


def read_event(event: dict[str, Any]) -> Incoming | None:
    """The event as the engine sees it (an attachment not downloaded yet), or None for what is
    no person's message or fact (echoes of the OA's own sends, "seen" receipts, unknown shapes)."""
    name = event.get("event_name")
    if not isinstance(name, str):
        return None
    timestamp = _id(event.get("timestamp"))
    message = _dict(event.get("message"))
    if name in FACTS:
        user = _id(_dict(event.get("follower")).get("id")) or _id(_dict(event.get("sender")).get("id"))
        if not user:
            return None
        return Incoming(NAME, _event_id(name, user, timestamp), user, user, fact=FACTS[name])
    if name != "user_send_text" and name not in MEDIA:
        return None
    user = _id(_dict(event.get("sender")).get("id"))
    if not user:
        return None
    msg_id = _id(message.get("msg_id"))
    event_id = _event_id(msg_id) if msg_id else _event_id(name, user, timestamp)
    if name == "user_send_text":
        text = message.get("text")
        if not isinstance(text, str):
            return Incoming(NAME, event_id, user, user, media="other")
        return Incoming(NAME, event_id, user, user, text=text)
    return Incoming(NAME, event_id, user, user, media=MEDIA[name])


def _attachment(event: dict[str, Any]) -> dict[str, Any]:
    attachments = _dict(event.get("message")).get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments else {}
    return _dict(_dict(first).get("payload"))


def tap_payload(button: Button, number: int | None) -> str:
    """The text an `oa.query.hide` button sends (a tap most likely arrives as `user_send_text`
    carrying it, U): text the engine's typed choices (engine/typed.py) map to exactly this button
    of the question, as if it were pressed. Where a typed number names the button, its number
    (`button_numbers`: "2" names one button whatever its label: a year, a report, "Use the
    suggested text"); where a number is an answer or navigation takes words (a number or date
    step; Back or Skip at a free-text step), the label itself, which the engine takes as the
    button when it is a whole label ("« Back", a remembered count "25")."""
    return str(number) if number else button.label


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first limit + 1 bytes when it is longer (then refused as too big). One
    read(n) returns only what has arrived so far: a photo would be kept cut."""
    content = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        content += chunk
        if len(content) > limit:
            break
    return bytes(content[: limit + 1])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(message: Outgoing) -> tuple[str, list[dict[str, str]]]:
    """The text and the buttons Zalo shows: up to MAX_BUTTONS as `oa.query.hide` buttons, else
    the engine's numbered list in the text (with its hint, in the reader's language)."""
    flat = [b for row in message.buttons for b in row]
    if len(flat) > MAX_BUTTONS:
        return numbered_text(message), []
    buttons = [
        {"title": _clip(b.label, TITLE_MAX), "type": "oa.query.hide", "payload": tap_payload(b, number)}
        for b, number in zip(flat, button_numbers(message), strict=True)
    ]
    return message.text, buttons


class ZaloOAChannel:
    name = NAME
    # About 4,000 requests a minute per app (C): 50 a second leaves room for uploads and
    # retries. No per-person limit is documented; a few a second keeps a split text in order.
    limits = Limits(per_second=50, per_chat_per_second=3, per_chat_burst=6)
    max_text = MAX_TEXT

    def __init__(self, host: Host, tokens: TokenSource | None):
        self.host = host
        self.settings = settings = host.settings
        assert settings.zalo_oa_app_id is not None and settings.zalo_oa_secret_key is not None
        self.app_id = settings.zalo_oa_app_id
        self._secret = settings.zalo_oa_secret_key.get_secret_value()
        self.api = settings.zalo_oa_api_url.rstrip("/")
        self._tokens = tokens
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        # One person's events are handled in the order they came: their lock, and how many use it.
        self._people: dict[str, tuple[asyncio.Lock, int]] = {}
        self._stopping = asyncio.Event()
        # Set once the catch-up (at start) has queued the events stored before the restart on their
        # people's locks: a fresh event waits for it, so it is handled after that person's older
        # ones. The webhook is live before the channel starts: unset until then.
        self._caught_up = asyncio.Event()
        self._rate_wait = RATE_BACKOFF[0]

    @property
    def tokens(self) -> TokenSource:
        if self._tokens is None:
            raise RuntimeError(NO_TOKEN)
        return self._tokens

    @tokens.setter
    def tokens(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT))
        return self._session

    # ---- in -----------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        app.router.add_post(self.settings.zalo_oa_webhook_path, self._webhook)

    def _signed(self, header: str | None, body: bytes, event: dict[str, Any]) -> bool:
        if not header or not header.startswith("mac="):
            return False
        app_id, timestamp = _id(event.get("app_id")), _id(event.get("timestamp"))
        # Epoch milliseconds only: anything else could not be signed, and must not reach encode().
        if app_id != self.app_id or not (timestamp.isascii() and timestamp.isdigit()):
            return False
        expected = signature(app_id, body, timestamp, self._secret).encode()
        return hmac.compare_digest(expected, header[4:].strip().lower().encode("utf-8", "replace"))

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            event = None
        if not isinstance(event, dict) or not self._signed(request.headers.get("X-ZEvent-Signature"), body, event):
            log.warning(
                "zalo webhook: refused a request of %d bytes from %s: %s",
                len(body),
                request.remote,
                "no signature" if "X-ZEvent-Signature" not in request.headers else "wrong signature",
            )
            return web.Response(status=403, text="signature")
        incoming = read_event(event)
        if incoming is None:  # the OA's own sends echoed, receipts: nothing to keep
            return web.json_response({"ok": True})
        store = asyncio.ensure_future(self.host.accept(incoming, body.decode("utf-8", "replace")))
        try:
            new = await within(asyncio.shield(store), ACK_WITHIN)
        except TimeoutError:
            log.warning("zalo webhook: event %s not stored within %.1fs; answered 503", incoming.event_id, ACK_WITHIN)
            self._spawn(self._when_stored(store, incoming, event))
            return web.Response(status=503, text="busy")
        except asyncio.CancelledError:  # the connection was dropped: the store goes on
            self._spawn(self._when_stored(store, incoming, event))
            raise
        except Exception as exc:
            log.warning("zalo webhook: could not store event %s (%s)", incoming.event_id, type(exc).__name__)
            return web.Response(status=503, text="unavailable")
        # While stopping an event is still stored and acknowledged (Zalo would not deliver it again
        # after an error), and left for the next start's catch-up.
        if new and not self._stopping.is_set():
            self._spawn(self._handle(incoming, event))
        return web.json_response({"ok": True})

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _when_stored(self, store: asyncio.Future, incoming: Incoming, event: dict[str, Any]) -> None:
        """A store that outlived its acknowledgement (answered 503): handle it once it is in."""
        try:
            new = await store
        except Exception as exc:
            log.warning("zalo: event %s could not be stored (%s)", incoming.event_id, type(exc).__name__)
            return
        if new:
            await self._handle(incoming, event)

    async def _handle(self, incoming: Incoming, event: dict[str, Any]) -> None:
        """A fresh event: after the catch-up has queued the events stored before the restart."""
        await self._caught_up.wait()
        await self._in_order(incoming, event)

    async def _in_order(self, incoming: Incoming, event: dict[str, Any]) -> None:
        """Download the attachment if any, then handle the stored event, in the person's order."""
        user = incoming.user_id
        lock, users = self._people.get(user, (asyncio.Lock(), 0))
        self._people[user] = (lock, users + 1)
        try:
            async with lock:
                if incoming.media in ("photo", "document"):
                    file, media = await self._fetch(event, incoming)
                    incoming = dataclasses.replace(incoming, file=file, media=media)
                await self._submit(dataclasses.replace(incoming, accepted=True))
        finally:
            lock, users = self._people[user]
            if users == 1:
                del self._people[user]
            else:
                self._people[user] = (lock, users - 1)

    async def _submit(self, incoming: Incoming) -> None:
        """Zalo will not deliver it again: hand it to the processor until it is handled (as a
        polled update is stored, see `store_until_stored`). When the channel stops first, the
        event stays stored and unprocessed: the next start's catch-up handles it."""
        try:
            await store_until_stored(
                lambda: self.host.submit(incoming), f"zalo event {incoming.event_id}", stopping=self._stopping
            )
        except Exception as exc:
            log.warning("zalo: event %s left for the next start (%s)", incoming.event_id, type(exc).__name__)

    async def _fetch(self, event: dict[str, Any], incoming: Incoming) -> tuple[InFile | None, str]:
        """The attached picture or PDF, within CHIDOAN_MAX_FILE_KB (as Telegram's); anything else
        is told to the engine by its kind, which answers that it takes pictures or PDFs."""
        media = incoming.media or "document"
        payload = _attachment(event)
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return None, media
        limit = self.settings.max_file_kb * 1024
        size = payload.get("size")
        stated = str(size) if isinstance(size, str | int) else ""
        if stated.isascii() and stated.isdecimal() and int(stated) > limit:  # "²".isdigit(), no int
            return None, "too_big"
        given = clip_filename(payload.get("name")) if isinstance(payload.get("name"), str) else None
        try:
            async with self.session.get(url) as response:
                if response.status != 200:
                    log.warning("zalo: attachment of event %s answered %s", incoming.event_id, response.status)
                    return None, media
                if (response.content_length or 0) > limit:
                    return None, "too_big"
                content = await _read_at_most(response, limit)
                declared = response.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("zalo: could not download the attachment of event %s (%s)", incoming.event_id, exc)
            return None, media
        if len(content) > limit:
            return None, "too_big"
        # A file's name tells its kind; a picture's URL is served with its type.
        mime = (mimetypes.guess_type(given)[0] if given else None) or declared
        if not (mime.startswith("image/") or mime == "application/pdf"):
            return None, media
        name = given or f"zalo-{incoming.event_id[:40]}{mimetypes.guess_extension(mime) or ''}"
        return InFile(name, mime, content, url), media

    async def catch_up(self) -> int:
        """Handle the events stored but not handled before the process ended; how many. Their
        tasks are all made at once, in order, so they take their people's locks before any fresh
        event of the same person (which waits for `_caught_up`)."""
        try:
            pending = await self.host.unprocessed(self.name)
            unreadable: list[tuple[str, str]] = []
            handling: list[asyncio.Task] = []
            for event_id, raw in pending:
                try:
                    event = json.loads(raw)
                    incoming = read_event(event) if isinstance(event, dict) else None
                except (ValueError, RecursionError):
                    incoming = None
                if incoming is None or incoming.event_id != event_id:
                    unreadable.append((event_id, raw))
                    continue
                task = asyncio.ensure_future(self._in_order(incoming, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                handling.append(task)
        finally:
            self._caught_up.set()
        for event_id, raw in unreadable:
            stub = Incoming(self.name, event_id, "", "")
            await self.host.keep_failed(stub, "stored zalo event cannot be read again", raw)
        for result in await asyncio.gather(*handling, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("zalo: a stored event could not be handled", exc_info=result)
        if pending:
            log.info("zalo: %d event(s) stored before the restart handled", len(pending))
        return len(pending)

    # ---- out ----------------------------------------------------------------------------

    async def send(self, chat_id: str, message: Outgoing) -> None:
        if message.template:  # outside the 7-day window: the approved template (engine/notices.py)
            await self._send_template(chat_id, message.text)
            return
        text, buttons = render(message)
        if message.attachment is not None and not uploadable(message.attachment):
            locale = await self.host.read(lambda uow: uow.accounts.locale_of_chat(NAME, chat_id))
            note = file_note(locale or self.settings.default_locale, message.attachment, self.settings)
            await self._send_text(chat_id, f"{text}\n\n{note}" if text.strip() else note, buttons)
        elif message.attachment is not None:
            if text.strip():
                await self._send_text(chat_id, text, buttons)
            await self._send_document(chat_id, message.attachment)
        else:
            await self._send_text(chat_id, text, buttons)

    async def _send_text(self, chat_id: str, text: str, buttons: list[dict[str, str]]) -> None:
        parts = split_text(text, MAX_TEXT)
        for i, part in enumerate(parts):
            body: dict[str, Any] = {"text": part}
            if buttons and i == len(parts) - 1:
                body["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
            for wait in range(PART_WAITS + 1):
                try:
                    await self._message(chat_id, body)
                    break
                except RetryLater as exc:
                    if i == 0 or wait == PART_WAITS or not exc.counts:
                        raise
                    # Earlier parts are delivered: retrying the whole row would send them twice.
                    await asyncio.sleep(min(exc.after, 30.0))

    async def _message(self, chat_id: str, message: dict[str, Any]) -> dict[str, Any]:
        body = {"recipient": {"user_id": chat_id}, "message": message}
        return await self._call("/v3.0/oa/message/cs", lambda: {"json": body})

    async def _send_template(self, chat_id: str, text: str) -> None:
        """The approved template ZALO_OA_TEMPLATE_ID by user id (P); the body's shape, one
        parameter `content` carrying the notice, is U (an approved template names its own)."""
        data = {"content": _clip(text, MAX_TEXT)}
        body = {
            "recipient": {"user_id": chat_id},
            "template_id": self.settings.zalo_oa_template_id,
            "template_data": data,
        }
        await self._call("/v3.0/oa/message/template", lambda: {"json": body})

    async def _send_document(self, chat_id: str, attachment: Attachment) -> None:
        if attachment.content is None:
            raise ValueError(f"document {attachment.document_id} was not loaded before sending")
        content, filename = attachment.content, attachment.filename
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"

        def form() -> dict[str, Any]:  # a new form per try: one is consumed by its request
            data = aiohttp.FormData()
            data.add_field("file", content, filename=filename, content_type=mime)
            return {"data": data}

        if filename.lower().endswith(IMAGE_EXTENSIONS):
            uploaded = await self._call("/v2.0/oa/upload/image", form)
            element = {"media_type": "image", "attachment_id": _dict(uploaded.get("data")).get("attachment_id")}
            payload: dict[str, Any] = {"template_type": "media", "elements": [element]}
            await self._message(chat_id, {"attachment": {"type": "template", "payload": payload}})
            return
        uploaded = await self._call("/v2.0/oa/upload/file", form)
        token = _dict(uploaded.get("data")).get("token")
        if not isinstance(token, str) or not token:
            raise ZaloError(0, "upload/file gave no token")
        await self._message(chat_id, {"attachment": {"type": "file", "payload": {"token": token}}})

    async def _call(self, path: str, request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """POST with the access token; a refused token is refreshed once and the call tried once
        more. Raises what `_raise_for` says an error means. Tokens are never logged."""
        token = await self.tokens.current()
        answer = await self._post(path, token, request())
        if _code(answer) in TOKEN_REFUSED:
            token = await self.tokens.refreshed(after=token)
            answer = await self._post(path, token, request())
        self._raise_for(answer)
        self._rate_wait = RATE_BACKOFF[0]
        return answer

    async def _post(self, path: str, token: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.api + path, headers={"access_token": token}, **kwargs) as response:
            if response.status == 429:
                return {"error": -32, "message": "HTTP 429"}
            if response.status != 200:
                raise ZaloError(response.status, f"HTTP {response.status} from {path}")
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                raise ZaloError(0, f"{path} answered no JSON") from None
        if not isinstance(answer, dict):
            raise ZaloError(0, f"{path} answered no object")
        return answer

    def _raise_for(self, answer: dict[str, Any]) -> None:
        code = _code(answer)
        if code == 0:
            return
        text = f"zalo {code}: {str(answer.get('message') or '')[:200]}"
        if code in GONE:
            raise Unreachable(text)
        if code in NOT_NOW:
            raise NotReachableNow(text)
        if code in RATE_LIMITED:
            wait, self._rate_wait = self._rate_wait, min(self._rate_wait * 2, RATE_BACKOFF[1])
            raise RetryLater(wait, text)
        if code in TOKEN_REFUSED:  # refused again after a refresh: the token store needs a look
            log.error("zalo: the access token was refused after a refresh (%s)", code)
            raise TokenRefused(text, 600)
        if code in OUT_OF_QUOTA:
            raise RetryLater(3600, text)
        raise ZaloError(code, text)

    # ---- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Refuses (RuntimeError) without a token source; starts the token store's checks."""
        if self._tokens is None:
            raise RuntimeError(NO_TOKEN)
        self._stopping.clear()
        if isinstance(self._tokens, Startable):
            await self._tokens.start()
        self._caught_up.clear()  # fresh events wait until the catch-up has queued the stored ones
        self._spawn(self._catch_up_logged())
        log.info("zalo: webhook at %s", self.settings.zalo_oa_webhook_path)

    async def _catch_up_logged(self) -> None:
        try:
            await self.catch_up()
        except Exception:
            log.exception("zalo: could not handle the events stored before the restart")

    async def stop(self) -> None:
        """Take no more events; let those being handled finish (bounded): the rest are stored and
        handled at the next start."""
        self._stopping.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=10)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        if isinstance(self._tokens, Startable):
            await self._tokens.stop()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _code(answer: dict[str, Any]) -> int:
    code = answer.get("error", 0)
    if isinstance(code, str) and code.isascii() and code.lstrip("-").isdecimal():  # not "²"
        return int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else -1
