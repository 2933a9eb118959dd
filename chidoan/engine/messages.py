"""What channels hand to the engine, and what the engine hands back to them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any

from chidoan.i18n import N_, gettext


def clean_text(text: str | None, limit: int | None = None) -> str | None:
    """NFC-normalise, so the same Vietnamese word typed on two keyboards is stored the same way;
    drop what no database column can hold (NUL, lone surrogates), and clip to a column's size."""
    if text is None:
        return None
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    text = unicodedata.normalize("NFC", text)
    return text[:limit] if limit else text


FILENAME_MAX = 128  # document.filename
EXTENSION_MAX = 16


def clip_filename(name: str | None, limit: int = FILENAME_MAX) -> str | None:
    """A received file's name, cleaned (no control characters either: it ends up in a download's
    header) and clipped to its column, keeping the extension: "Biên bản … lần cuối.pdf"."""
    name = clean_text(name)
    if name is None:
        return None
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc").strip()
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not (dot and stem and 0 < len(extension) < EXTENSION_MAX):
        return name[:limit]
    extension = "." + extension
    return stem[: limit - len(extension)].rstrip() + extension


def clip_label(text: str, limit: int) -> str:
    """A button's label in at most `limit` characters, cut between words with an ellipsis
    ("1.5 Tuyên truyền, bảo vệ nền tảng tư…"), never inside a word (unless one word fills it)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in cut.strip():
        cut = cut[: cut.rstrip().rfind(" ")]
    return cut.rstrip(" ,;:.-–") + "…"


@dataclass(frozen=True, slots=True)
class InFile:
    """A file a person sent (a photo of the minutes, an attendance sheet), already downloaded by
    its channel within the size limit."""

    name: str
    mime: str
    content: bytes
    source: str | None = None  # the platform's reference (Telegram's file_id)


# What a platform tells about a person, with whether it means they can be written to now.
FACTS = {"blocked": False, "unblocked": True, "unfollowed": False, "followed": True}


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: str  # a channel's name: "telegram", "web", …
    event_id: str  # the platform's id of this event: duplicates are dropped by it
    user_id: str  # the platform's id of the person
    chat_id: str  # where replies go
    text: str | None = None
    payload: str | None = None  # a pressed button
    media: str | None = None  # "photo", "sticker", "voice", ... when the message is not text
    file: InFile | None = None  # a photo or document within the size limit ("too_big" media: over it)
    display_name: str | None = None
    language_code: str | None = None
    fact: str | None = None  # a platform fact, not a message: one of FACTS
    # Stored on arrival (Host.accept) and handled now: its stored row is claimed, not inserted.
    accepted: bool = False
    # The platform's number of this event (Telegram's update_id), when a person's events are
    # handled one at a time in its order across workers (see storage/events.py).
    number: int | None = None

    @property
    def kind(self) -> str:
        if self.fact is not None:
            return self.fact
        if self.payload is not None:
            return "button"
        if self.text is not None:
            return "text"
        return self.media or "other"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A stored document (see storage/documents.py); its bytes are loaded just before sending,
    so the outbox row stays small."""

    document_id: int
    filename: str
    content: bytes | None = None
    token: str | None = None  # the web chat's download link
    # A download link for channels that cannot carry the file (bot/downloads.py), and until when
    # it works; set when the document is loaded to be sent, if CHIDOAN_PUBLIC_URL is set.
    link: str | None = None
    link_expires: datetime | None = None
    media: str = "document"  # "photo": shown as a picture (Telegram's sendPhoto, an <img> in the web chat)
    kind: str = ""  # the document's (storage/documents.py), set when loaded: what a note about it says


class Typed(StrEnum):
    """How text typed after a message with buttons is read (see engine/typed.py)."""

    choice = "choice"  # only the buttons answer: a number, the words of a label, a synonym, part of a label
    text = "text"  # a free-text step: the number or a whole label (or synonym); anything else is the answer
    value = "value"  # a number, date or period step: a whole label or a synonym; a number is the answer


# A journey's navigation buttons ("j:<conversation>.<version>.<action>"): Back, Skip, Cancel,
# and Keep (an answer being edited stays as it is).
# What a press of a button that no longer means anything gets (a stale, forged or used one).
BUTTON_GONE = N_("That button is no longer valid.")
NAVIGATION_ACTIONS = frozenset({"back", "skip", "x", "unchanged"})


def is_navigation(payload: str) -> bool:
    """Whether the button is a journey's Back, Skip, Cancel or Keep: at a free-text step it is not
    numbered, its words are typed instead (see engine/typed.py)."""
    return payload.startswith("j:") and payload.rpartition(".")[2] in NAVIGATION_ACTIONS


def numbered_count(buttons: list[list[Button]], typed: Typed) -> int:
    """How many of the buttons a typed number stands for: all, but at a free-text step only the options."""
    flat = [b for row in buttons for b in row]
    return sum(not is_navigation(b.payload) for b in flat) if typed is Typed.text else len(flat)


@dataclass(slots=True)
class Outgoing:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    attachment: Attachment | None = None
    typed: Typed = Typed.choice  # kept with the question, not sent
    hint: str = ""  # "Reply 1, 2 or 3." in the reader's language, for channels without buttons
    template: bool = False  # send as the platform's approved template message (outbox kind, not body)

    def with_hint(self, locale: str) -> Outgoing:
        self.hint = reply_hint(locale, numbered_count(self.buttons, self.typed), self.typed)
        return self

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.buttons:
            body["buttons"] = [[{"label": b.label, "payload": b.payload} for b in row] for row in self.buttons]
            body["typed"] = str(self.typed)
            if self.hint:
                body["hint"] = self.hint
        if self.attachment:
            body["document"] = {"id": self.attachment.document_id, "filename": self.attachment.filename}
            if self.attachment.media != "document":
                body["document"]["media"] = self.attachment.media
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Outgoing:
        rows = [[Button(b["label"], b["payload"]) for b in row] for row in body.get("buttons", [])]
        document = body.get("document")
        attachment = (
            Attachment(document["id"], document["filename"], media=document.get("media", "document"))
            if document
            else None
        )
        typed = Typed(body["typed"]) if body.get("typed") in set(Typed) else Typed.choice
        return cls(text=body["text"], buttons=rows, attachment=attachment, typed=typed, hint=body.get("hint", ""))


@lru_cache(maxsize=256)  # a few locales × counts × kinds; made for every message with buttons
@cache  # a few locales × counts: a reminder season words thousands of messages with the same hint
def reply_hint(locale: str, count: int, typed: Typed = Typed.choice) -> str:
    """The line under a numbered list of options: "Trả lời 1, 2 hoặc 3." """
    if count == 0:
        return ""
    if typed is Typed.value:
        return gettext(locale, N_("Type your answer, or the words of an option."))
    if count == 1:
        numbers = "1"
    elif count > 5:  # "1, 2, 3, … 29 or 30" says less than this
        numbers = gettext(locale, N_("a number from 1 to {last}"), last=count)
    else:
        numbers = gettext(
            locale, N_("{first} or {last}"), first=", ".join(str(n) for n in range(1, count)), last=str(count)
        )
    if typed is Typed.text:
        return gettext(locale, N_("Type your answer, or reply {numbers}."), numbers=numbers)
    return gettext(locale, N_("Reply {numbers}."), numbers=numbers)


_NUMBERED = re.compile(r"^\d{1,3}[.)]\s+")


def button_numbers(message: Outgoing) -> list[int | None]:
    """The number a typed answer gives each button, in reading order, or None where a bare number
    is not that button: at a number or date step (the number is the answer), and for Back, Skip
    and Cancel at a free-text step (typed as words there). engine/typed.py reads numbers so."""
    numbers: list[int | None] = []
    count = 0
    for button in (b for row in message.buttons for b in row):
        if message.typed is Typed.value or (message.typed is Typed.text and is_navigation(button.payload)):
            numbers.append(None)
        else:
            count += 1
            numbers.append(count)
    return numbers


def numbered_text(message: Outgoing) -> str:
    """A message with buttons as plain text, for channels without buttons (Zalo): the text, the
    options numbered in reading order (a label numbered already keeps its words only), and the
    hint. At a step that takes a number or a date the options are bulleted, since a typed number
    is the answer there; at a free-text step so are Back and Skip (typed as words there)."""
    buttons = [b for row in message.buttons for b in row]
    if not buttons:
        return message.text
    lines = [message.text, ""]
    for button, number in zip(buttons, button_numbers(message), strict=True):
        label = _NUMBERED.sub("", button.label)
        lines.append(f"{number}. {label}" if number else f"• {label}")
    if message.hint:
        lines += ["", message.hint]
    return "\n".join(lines)
