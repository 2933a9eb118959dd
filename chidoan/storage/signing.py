"""Signatures for what the bot hands out and reads back: download links (bot/downloads.py) and
buttons that name a document (the compiled report's "send upward"), so a forged one is refused.
The secret is made once and kept in the `setting` table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from chidoan.storage.uow import UnitOfWork

SECRET_KEY = "signing_secret"


def secret(uow: UnitOfWork) -> bytes:
    """The signing secret, made once and kept in the `setting` table."""
    value = uow.kv.get(SECRET_KEY)
    if value is None:
        value = secrets.token_urlsafe(32)
        uow.kv.put(SECRET_KEY, value)
    return value.encode()


def signature(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(uow: UnitOfWork, message: str) -> str:
    """A short signature of `message` (22 characters): buttons that name a document use it, so a
    forged one is refused."""
    return signature(secret(uow), message)


def verify(uow: UnitOfWork, message: str, given: str) -> bool:
    """Whether `given` is the signature of `message` (compared in constant time; a forged
    signature may hold anything, and compare_digest takes only ASCII text)."""
    return given.isascii() and hmac.compare_digest(sign(uow, message).encode(), given.encode())
