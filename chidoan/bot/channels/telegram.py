"""Telegram through aiogram 3: updates in as `Incoming`, `Outgoing` out as messages.

aiogram acknowledges an update before its handler runs unless told otherwise, so:
- webhook: `handle_in_background=False`, the 200 goes back only after `Processor.submit`
  has committed the update (a failure gives a 500 and Telegram delivers it again);
- polling: `handle_as_tasks=False`, the next getUpdates (which confirms the batch) is sent only
  after every update of the batch has been committed.
Texts go out without a parse mode: what users typed is never rendered as markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from chidoan.bot.channels.base import (
    Host,
    Limits,
    RetryLater,
    TokenRefused,
    Unreachable,
    split_text,
    store_until_stored,
)
from chidoan.bot.config import Settings
from chidoan.engine.messages import Attachment, Incoming, InFile, Outgoing, clean_text, clip_filename
from chidoan.handlers.invites import BOT_USERNAME_KEY
from chidoan.i18n import LOCALES, gettext

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
NAME_MAX = 255  # channel_identity.display_name
PART_WAITS = 3  # flood-control waits for the rest of a split message (its first parts are out)
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
WEBHOOK_SECRET_LABEL = b"chidoan telegram webhook secret"
MEDIA_TYPES = (
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "document",
    "audio",
    "animation",
    "location",
    "contact",
)


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.payload) for b in row] for row in message.buttons
        ]
    )


class NotAnUpdate(ValueError):
    """A webhook body or a getUpdates item that is no Telegram update (no update_id)."""


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:3])[:500]


def _unreadable(raw: dict) -> Incoming:
    """Who sent an update aiogram cannot read, as far as its plain fields tell: a person's
    message or button in a private chat gets the apology; anything else is only kept."""
    kind = next((k for k in raw if k != "update_id"), "")
    body = _dict(raw.get(kind)) if kind in ("message", "callback_query") else {}
    user = _dict(body.get("from"))
    user_id = user.get("id") if isinstance(user.get("id"), int) else None
    chat = _dict(_dict(body.get("message")).get("chat") if kind == "callback_query" else body.get("chat"))
    private = user_id is not None and chat.get("type") == "private" and chat.get("id") == user_id
    language = user.get("language_code")
    return Incoming(
        channel=TelegramChannel.name,
        event_id=str(raw["update_id"]),
        user_id=str(user_id) if user_id is not None else "",
        chat_id=str(user_id) if private else "",
        media="unreadable",
        language_code=language if isinstance(language, str) else None,
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(user) -> str | None:
    if user is None:
        return None
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or user.username
    return clean_text(name, NAME_MAX)


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, else one derived from the bot token: every worker of one bot
    then sets and checks the same secret (a random one per process made the last `setWebhook`
    win and the other workers answer 401). Hex: within Telegram's A-Z a-z 0-9 _ -, 64 long."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret.get_secret_value()
    assert settings.telegram_bot_token is not None  # the channel is on only with a token
    token = settings.telegram_bot_token.get_secret_value().encode()
    return hmac.new(token, WEBHOOK_SECRET_LABEL, hashlib.sha256).hexdigest()


def build(host: Host) -> TelegramChannel | None:
    return TelegramChannel(host) if host.settings.telegram_bot_token else None


class TelegramChannel:
    name = "telegram"
    # Telegram: about 30 messages a second per bot, and about one a second per chat (short bursts
    # pass). The bot's rate is TELEGRAM_RATE_PER_SECOND (set in __init__); this is its default.
    limits = Limits(per_second=25, per_chat_per_second=1, per_chat_burst=3)
    max_text = MAX_TEXT

    def __init__(self, host: Host):
        self.host = host
        self.settings = settings = host.settings
        assert settings.telegram_bot_token is not None
        self.limits = Limits(per_second=settings.telegram_rate_per_second, per_chat_per_second=1, per_chat_burst=3)
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        self.bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
        # Conversation state lives in chidoan's database: aiogram's FSM would only add a
        # middleware and an in-memory lookup to every update.
        self.dispatcher = _Dispatcher(self.read_update, disable_fsm=True)
        self.dispatcher.include_router(self._router())
        self._polling: asyncio.Task | None = None
        self.webhook_secret = webhook_secret(settings)

    # ---- in -----------------------------------------------------------------------------

    def _router(self) -> Router:
        router = Router(name="chidoan")
        router.message.filter(F.chat.type == "private")
        router.message.register(self._on_message)
        router.callback_query.register(self._on_callback)
        router.my_chat_member.register(self._on_member)
        return router

    async def _on_message(self, message: Message, event_update: Update) -> None:
        if message.from_user is None:  # not from a person (private chats always name one)
            return
        media, file = None, None
        if message.text is None:
            media = next((kind for kind in MEDIA_TYPES if getattr(message, kind, None) is not None), "other")
            file, media = await self._fetch(message, media)
        await self._submit(
            Incoming(
                channel=self.name,
                event_id=str(event_update.update_id),
                user_id=str(message.from_user.id),
                chat_id=str(message.chat.id),
                text=message.text,
                media=media,
                file=file,
                display_name=_name(message.from_user),
                language_code=message.from_user.language_code,
            )
        )

    async def _fetch(self, message: Message, media: str) -> tuple[InFile | None, str]:
        """Download a photo, or a picture or PDF sent as a file, within the size limit; the
        engine keeps it only where a report asks for one."""
        limit = self.settings.max_file_kb * 1024
        if message.photo:
            fitting = [size for size in message.photo if (size.file_size or 0) <= limit]
            if not fitting:
                return None, "too_big"
            best = max(fitting, key=lambda size: size.file_size or 0)
            name, mime, file_id = f"photo-{best.file_unique_id}.jpg", "image/jpeg", best.file_id
        elif message.document:
            document = message.document
            mime = document.mime_type or ""
            if not (mime.startswith("image/") or mime == "application/pdf"):
                return None, media
            if (document.file_size or 0) > limit:
                return None, "too_big"
            name = clip_filename(document.file_name) or f"file-{document.file_unique_id}"
            file_id = document.file_id
        else:
            return None, media
        try:
            content = await self.bot.download(file_id)
        except Exception:  # the message is still stored; the person is asked to send it again
            log.exception("could not download telegram file %s", file_id)
            return None, media
        if content is None:  # only when a destination is given, which it is not
            return None, media
        return InFile(name, mime, content.read(), file_id), media

    async def _on_callback(self, callback: CallbackQuery, event_update: Update):
        chat_id = callback.message.chat.id if callback.message else callback.from_user.id
        await self._submit(
            Incoming(
                channel=self.name,
                event_id=str(event_update.update_id),
                user_id=str(callback.from_user.id),
                chat_id=str(chat_id),
                payload=callback.data or "",
                display_name=_name(callback.from_user),
                language_code=callback.from_user.language_code,
            )
        )
        answer = callback.answer()
        if self.settings.telegram_webhook_url:
            return answer  # it rides on the webhook's HTTP answer (no extra request)
        try:
            await answer
        except TelegramBadRequest as exc:
            # A query is answered once, within seconds: a delivery of the same update again (a
            # restart before getUpdates confirmed it) finds it closed. Normal, and the spinner
            # on the person's button stops by itself.
            log.info("telegram: callback query of update %s not answered: %s", event_update.update_id, exc.message)
        return None

    async def _submit(self, incoming: Incoming) -> None:
        await self._stored(lambda: self.host.submit(incoming), incoming.event_id)

    async def _stored(self, store: Callable[[], Awaitable[object]], update_id: str) -> None:
        """Webhook: a failure propagates (a 500: Telegram delivers the update again). Polling:
        aiogram would log it and confirm the update with the next getUpdates, losing it, so the
        update is stored again until it is."""
        if self.settings.telegram_webhook_url:
            await store()
        else:
            await store_until_stored(store, f"telegram update {update_id}")

    async def read_update(self, raw: object) -> Update | None:
        """An update as aiogram's model, or None when aiogram cannot read it (a field in a shape
        newer than the library): then it is kept as failed, its sender gets an apology, and it
        is handled no further (answered 200, confirmed by the next getUpdates). Raises
        NotAnUpdate for what is no update at all."""
        if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
            raise NotAnUpdate
        try:
            return Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as exc:
            problem = _problems(exc)  # where and what, never the values (what people wrote)
        log.warning("telegram update %s could not be read (%s); kept as failed", raw["update_id"], problem)
        incoming = _unreadable(raw)
        text = json.dumps(raw, ensure_ascii=False, default=str)
        await self._stored(lambda: self.host.keep_failed(incoming, problem, text), incoming.event_id)
        return None

    async def _on_member(self, update: ChatMemberUpdated, event_update: Update) -> None:
        """The person blocked the bot ("kicked") or unblocked it: a fact for the engine to record."""
        if update.chat.type != "private":
            return
        await self._submit(
            Incoming(
                channel=self.name,
                event_id=str(event_update.update_id),
                user_id=str(update.from_user.id),
                chat_id=str(update.chat.id),
                fact="blocked" if update.new_chat_member.status == "kicked" else "unblocked",
                display_name=_name(update.from_user),
                language_code=update.from_user.language_code,
            )
        )

    # ---- out ----------------------------------------------------------------------------

    async def send(self, chat_id: str, message: Outgoing) -> None:
        if message.attachment is not None:
            return await self._send_document(chat_id, message, message.attachment)
        parts = split_text(message.text, MAX_TEXT)
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                for wait in range(PART_WAITS + 1):
                    try:
                        await self.bot.send_message(
                            chat_id=int(chat_id), text=part, reply_markup=keyboard(message) if last else None
                        )
                        break
                    except TelegramRetryAfter as exc:
                        if i == 0 or wait == PART_WAITS:
                            raise
                        # Earlier parts are delivered: retrying the whole row would send them twice.
                        await asyncio.sleep(exc.retry_after)
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after, exc.message) from exc
        except TelegramUnauthorizedError as exc:
            raise TokenRefused(exc.message) from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
                raise Unreachable(exc.message) from exc
            raise

    async def _send_document(self, chat_id: str, message: Outgoing, attachment: Attachment) -> None:
        """The text rides as the caption when it fits (1,024 characters), else it goes first."""
        if attachment.content is None:
            raise ValueError(f"document {attachment.document_id} was not loaded before sending")
        caption = message.text if len(message.text) <= MAX_CAPTION else None
        if caption is None:
            await self.send(chat_id, Outgoing(message.text))
        file = BufferedInputFile(attachment.content, filename=attachment.filename)
        try:
            if attachment.media == "photo":  # a chart: shown in the chat, not as a file to open
                await self.bot.send_photo(
                    chat_id=int(chat_id), photo=file, caption=caption, reply_markup=keyboard(message)
                )
                return
            await self.bot.send_document(
                chat_id=int(chat_id), document=file, caption=caption, reply_markup=keyboard(message)
            )
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after, exc.message) from exc
        except TelegramUnauthorizedError as exc:
            raise TokenRefused(exc.message) from exc

    # ---- life ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Learn the bot's username (for invite links) and publish the command menu per language."""
        me = await self.bot.get_me()
        await self.host.remember(BOT_USERNAME_KEY, me.username or "")
        for locale in LOCALES:
            await self.bot.set_my_commands(self.menu(locale), language_code=locale)
        await self.bot.set_my_commands(self.menu(self.settings.default_locale))

    def menu(self, locale: str) -> list[BotCommand]:
        # Telegram shows every listed command to everyone; /help then says what a role may use.
        return [
            BotCommand(command=c.name, description=gettext(locale, c.description)[:256])
            for c in self.host.commands
            if c.menu
        ]

    def mount(self, app: web.Application) -> None:
        if self.settings.telegram_webhook_url:
            self.mount_webhook(app)

    def mount_webhook(self, app: web.Application) -> None:
        _WebhookHandler(self, secret_token=self.webhook_secret, handle_in_background=False).register(
            app, path=self.settings.telegram_webhook_path
        )

    async def start(self) -> None:
        await self.prepare()
        if self.settings.telegram_webhook_url:
            await self.bot.set_webhook(
                self.settings.telegram_webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("telegram: webhook mode")
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                self.dispatcher.start_polling(
                    self.bot,
                    handle_as_tasks=False,
                    handle_signals=False,
                    close_bot_session=False,
                    allowed_updates=ALLOWED_UPDATES,
                    polling_timeout=20,
                ),
                name="chidoan-telegram-polling",
            )
            log.info("telegram: long polling")

    async def stop(self) -> None:
        """Stop taking updates; the session stays open so queued replies can still go out."""
        if self._polling is not None:
            with contextlib.suppress(RuntimeError):  # polling ended or never got going
                await self.dispatcher.stop_polling()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None

    async def close(self) -> None:
        await self.bot.session.close()


class _WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, except that a body that is not JSON is a 400 (logged once, without
    the body) and an update aiogram cannot read is kept as failed and answered 200: either
    would otherwise be a 500 with a traceback, which Telegram retries forever."""

    def __init__(self, channel: TelegramChannel, **kwargs: Any):
        super().__init__(channel.dispatcher, channel.bot, **kwargs)
        self.channel = channel

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = await self.channel.read_update(await request.json(loads=bot.session.json_loads))
        except ValueError as exc:  # not JSON, not UTF-8, or no update
            log.warning(
                "telegram webhook: refused a body of %s bytes that is not an update (%s)",
                request.content_length,
                type(exc).__name__,
            )
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.json_response({})
        result: Any = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


class _RawGetUpdates(GetUpdates):
    """getUpdates with its updates left as dicts, read one by one: aiogram reads the whole
    batch at once, so one update it cannot read made every getUpdates fail, for ever."""

    __returning__ = list[dict[str, Any]]


class _Dispatcher(Dispatcher):
    """aiogram's dispatcher, polling through `_RawGetUpdates`; `read` turns each raw update
    into aiogram's model, or keeps it as failed (None) and polling goes on past it."""

    def __init__(self, read: Callable[[object], Awaitable[Update | None]], **kwargs: Any):
        super().__init__(**kwargs)
        self._read = read

    async def _listen_updates(  # type: ignore[override]
        self,
        bot: Bot,
        polling_timeout: int = 30,
        backoff_config: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
        allowed_updates: list[str] | None = None,
    ):
        backoff = Backoff(config=backoff_config)
        get_updates = _RawGetUpdates(timeout=polling_timeout, allowed_updates=allowed_updates)
        kwargs = {"request_timeout": int(bot.session.timeout + polling_timeout)} if bot.session.timeout else {}
        while True:
            try:
                batch = cast(list[dict[str, Any]], await bot(get_updates, **kwargs))
            except Exception as exc:  # Telegram unreachable for a while: polling goes on
                log.warning("telegram: getUpdates failed (%s: %s); trying again", type(exc).__name__, exc)
                await backoff.asleep()
                continue
            backoff.reset()
            for raw in batch:
                try:
                    update = await self._read(raw)
                except NotAnUpdate:
                    log.warning("telegram: getUpdates gave something that is no update; skipped")
                    continue
                if update is not None:
                    yield update
                get_updates.offset = raw["update_id"] + 1
