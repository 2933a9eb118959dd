"""Fetch-or-fail for repositories: a caller that holds an id it got from the database expects
the row, and a missing one is an error with a name, not an AttributeError on None later."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Row


class NotFound(LookupError):
    """A row that had to exist does not (deleted meanwhile, or an id from a forged payload)."""


def found(row: Row | None, what: str, key: object) -> Row:
    if row is None:
        raise NotFound(f"{what} {key!r} not found")
    return row


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT of one row made."""
    key = result.inserted_primary_key
    if key is None:
        raise NotFound("the insert returned no primary key")
    return int(key[0])
