"""Download links: a stored document fetched over HTTP, at `/files/<token>`.

Two kinds of token are served on the one route:
- a **signed link**, `<document id>-<expiry>-<signature>`, made when a file goes to a channel that
  cannot carry it (the Zalo Bot API uploads nothing; Zalo OA's upload takes few file types):
  it works until its expiry (`CHIDOAN_LINK_HOURS`, 24 by default), then answers 410 Gone with a
  page that says what to do; its signature is an HMAC of the id and the expiry with a secret kept
  in the `setting` table, so a link can be neither guessed nor extended. The links start with
  `CHIDOAN_PUBLIC_URL`; without it no link is made (the channel says so instead);
- the web chat's own link, the document's random `token`, served only while the web chat is on.

The route is mounted by the App whatever channels run, so links work with the web chat off.
"""

from __future__ import annotations

import asyncio
import hmac
import mimetypes
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from chidoan.engine.messages import Attachment
from chidoan.i18n import N_, gettext
from chidoan.storage.documents import read_bytes
from chidoan.storage.files import FileStore
from chidoan.storage.signing import secret, signature
from chidoan.storage.uow import UnitOfWork

SIGNED = re.compile(r"^(\d{1,18})-(\d{1,12})-([A-Za-z0-9_\-]{22})$")
TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
}

GONE_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Liên kết đã hết hạn</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">
<h1>Liên kết tải tệp đã hết hạn</h1>
<p>Liên kết này chỉ dùng được trong một thời gian ngắn. Vui lòng gõ lại lệnh trong ứng dụng chat
(ví dụ /xuat, /baocaohuyen, /quyetdinh, /kehoach) để nhận liên kết mới.</p>
<p lang="en"><i>This download link has expired. Send the command again in the chat to get a new link.</i></p>
</body></html>
"""


def link_token(uow: UnitOfWork, document_id: int, expires: datetime) -> str:
    stamp = int(expires.timestamp())
    return f"{document_id}-{stamp}-{signature(secret(uow), f'file:{document_id}:{stamp}')}"


def link_for(uow: UnitOfWork, settings, document_id: int, now: datetime) -> tuple[str, datetime] | None:
    """A download link to the document and when it stops working; None without a public URL."""
    if not settings.public_url:
        return None
    expires = now + timedelta(hours=settings.link_hours)
    return f"{settings.public_url}/files/{link_token(uow, document_id, expires)}", expires


def resolve(uow: UnitOfWork, token: str, now: datetime, *, web_tokens: bool) -> tuple[str, Any] | None:
    """("ok", document row), ("gone", None), or None for a token that is no link."""
    signed = SIGNED.match(token)
    if signed is not None:
        document_id, stamp, given = int(signed[1]), int(signed[2]), signed[3]
        if not hmac.compare_digest(signature(secret(uow), f"file:{document_id}:{stamp}"), given):
            return None
        if now.timestamp() >= stamp:
            return "gone", None
        document = uow.documents.get(document_id)
        return ("ok", document) if document is not None else None
    if not web_tokens:
        return None
    document = uow.documents.by_token(token)
    return ("ok", document) if document is not None else None


LINK_NOTE = N_("Download “{filename}” here (the link works until {time}): {url}")
NO_LINK_NOTE = N_(
    "(Zalo cannot carry the file “{filename}”, and no download address is set up for this service: please tell the administrator. Meanwhile get it on Telegram or in the web chat, where the command that sent it here sends it as a file.)"
)
NO_LINK_AGAIN_NOTE = N_(
    "(Zalo cannot carry the file “{filename}”, and no download address is set up for this service: please tell the administrator. Meanwhile {command} on Telegram or in the web chat sends it as a file.)"
)
# The command that sends a document of this kind again, where one always does. A plan comes by
# /kehoach (its unit's secretaries), /xem or /duyet (those above): the general note names none.
AGAIN = {
    "compiled": "/baocaohuyen",
    "decision": "/quyetdinh",
    "export": "/xuat",
    "status_chart": "/trangthai",
    "data_export": "/dulieu",
}


def file_note(locale: str, attachment: Attachment, settings) -> str:
    """What a channel that cannot carry a file writes instead: its download link and until when
    it works, or, without a public address, who to ask and how to get that file elsewhere (never
    a link that cannot work, nor a command that does not send it)."""
    if attachment.link and attachment.link_expires is not None:
        until = attachment.link_expires.astimezone(settings.tz).strftime("%H:%M %d/%m/%Y")
        return gettext(locale, LINK_NOTE, filename=attachment.filename, time=until, url=attachment.link)
    command = AGAIN.get(attachment.kind)
    if command is None:
        return gettext(locale, NO_LINK_NOTE, filename=attachment.filename)
    return gettext(locale, NO_LINK_AGAIN_NOTE, filename=attachment.filename, command=command)


def content_type(filename: str) -> str:
    extension = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    return TYPES.get(extension) or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _disposition(filename: str) -> str:
    """An attachment's name, ASCII for old clients and UTF-8 (RFC 5987) for the rest."""
    from urllib.parse import quote

    plain = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


def mount(
    app: web.Application,
    read: Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]],
    clock: Callable[[], datetime],
    files: FileStore,
    *,
    web_tokens: bool,
) -> None:
    async def download(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        now = clock()
        found = await read(lambda uow: resolve(uow, token, now, web_tokens=web_tokens))
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        state, value = found
        if state == "gone":
            return web.Response(status=410, text=GONE_PAGE, content_type="text/html", charset="utf-8")
        # The bytes are read on a worker thread, off the database thread and the event loop.
        content = await asyncio.to_thread(read_bytes, files, value)
        return web.Response(
            body=content,
            content_type=content_type(value.filename),
            headers={"Content-Disposition": _disposition(value.filename), "Cache-Control": "private, no-store"},
        )

    app.router.add_get("/files/{token}", download)
