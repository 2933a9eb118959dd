"""What channels hand to the engine, and what the engine hands back to them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(slots=True)
class Outgoing:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    attachment: Attachment | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.buttons:
            body["buttons"] = [[{"label": b.label, "payload": b.payload} for b in row] for row in self.buttons]
        if self.attachment:
            body["document"] = {"id": self.attachment.document_id, "filename": self.attachment.filename}
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Outgoing:
        rows = [[Button(b["label"], b["payload"]) for b in row] for row in body.get("buttons", [])]
        document = body.get("document")
        attachment = Attachment(document["id"], document["filename"]) if document else None
        return cls(text=body["text"], buttons=rows, attachment=attachment)
